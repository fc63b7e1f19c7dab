"""Small training folders for tests: images of squares and a points.csv marking each one."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import squares_image, write_png


def squares_folder(root: Path, images: int = 3) -> Path:
    """`images` pictures of six 12 px squares each, every square annotated as an egg."""
    rows = ["image,x,y,label"]
    for k in range(images):
        centres = [(24 + 40 * i, 24 + 40 * j) for i in range(3) for j in range(2)]
        write_png(root / "images" / f"{k}.png", squares_image(centres, side=12))
        rows += [f"{k}.png,{x},{y},egg" for x, y in centres]
    (root / "points.csv").write_text("\n".join(rows) + "\n")
    return root
