"""Paint mode of the annotation page in real headless Chromium, driven by Playwright: the file
on disk is the truth."""

import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from export.areas_folder import read_areas_folder
from tests.conftest import squares_image, write_png
from tests.export.test_annotate_browser import browser, canvas_point, start  # noqa: F401
from tests.support import onnx_fixtures

pytestmark = pytest.mark.slow
W, H = 300, 200
XSS = '<img src=x onerror="window.pwned=1">'
LOADED = "state.mode === 'paint' && Paint.P.labels && Paint.P.im === current() && state.img"


def areas_folder(tmp: Path) -> Path:
    root = tmp / "f"
    write_png(root / "images" / "a.png", squares_image([(60, 60)], shape=(H, W), side=30))
    write_png(root / "images" / "b.png", squares_image([(200, 120)], shape=(H, W), side=30))
    (root / "masks").mkdir()
    (root / "classes.csv").write_text("value,class\n2,gland\n3,stroma\n")
    return root


def wait_mask(path: Path, timeout: float = 15.0) -> np.ndarray:
    end = time.monotonic() + timeout
    while not path.exists() and time.monotonic() < end:
        time.sleep(0.05)
    m = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert m is not None, f"{path} was not written"
    return m


def stroke(page, points: list[tuple[float, float]]) -> None:
    """Press at the first image point, drag through the others, release."""
    page.mouse.move(*canvas_point(page, *points[0]))
    page.mouse.down()
    for x, y in points[1:]:
        page.mouse.move(*canvas_point(page, x, y), steps=12)
    page.mouse.up()


def pick_class(page, name: str) -> None:
    page.click(f"#classes li:has-text('{name}')")
    page.wait_for_function(f"Paint.P.value === {dict(background=1, gland=2, stroma=3)[name]}")


def test_paint_fill_undo_save(browser, tmp_path):  # noqa: F811
    root = areas_folder(tmp_path)
    server, url = start(root)
    try:
        page = browser.new_page(bypass_csp=True, viewport={"width": 1100, "height": 700})
        page.goto(url)
        page.wait_for_function(LOADED)
        assert "1. background" in page.inner_text("#classes")
        assert "3. stroma" in page.inner_text("#classes")
        assert page.inner_text("#progress") == "masks 0 of 2"
        # a stroma band across the whole width cuts the image in two unlabelled regions
        pick_class(page, "stroma")
        stroke(page, [(2, 100), (298, 100)])
        page.wait_for_function("Paint.P.edits === 1")
        # fill the upper region with gland
        pick_class(page, "gland")
        page.click("#tool-fill")
        page.mouse.click(*canvas_point(page, 150, 30))
        page.wait_for_function("Paint.P.edits === 2")
        # a background stroke (kept), then a gland stroke (undone)
        page.keyboard.press("b")
        pick_class(page, "background")
        stroke(page, [(50, 160), (250, 160)])
        pick_class(page, "gland")
        stroke(page, [(150, 135), (280, 135)])
        page.wait_for_function("Paint.P.edits === 4")
        page.keyboard.press("Control+z")
        page.wait_for_function("Paint.P.edits === 5 && Paint.P.undo.length === 3")
        page.keyboard.press("Control+s")
        page.wait_for_function("document.getElementById('saved').textContent === 'saved'")
        m = wait_mask(root / "masks" / "a.png")
        assert m.dtype == np.uint8 and m.shape == (H, W)
        assert (m[:85] == 2).all()  # the fill reached every pixel above the band
        assert (m[95:106] == 3).all()  # the band, edge to edge
        assert m[160, 60] == 1 and m[160, 240] == 1 and m[160, 150] == 1
        assert m[135, 200] == 0 and m[135, 270] == 0  # the undone stroke
        assert m[190, 10] == 0 and m[125, 20] == 0 and m[180, 290] == 0
        assert set(np.unique(m).tolist()) == {0, 1, 2, 3}
        assert (root / "classes.csv").read_text() == (
            "value,class\n1,background\n2,gland\n3,stroma\n"
        )
        folder = read_areas_folder(root)
        assert folder.classes == ["gland", "stroma"] and folder.left_out == ["b.png"]
        labels = folder.samples[0].labels()
        assert labels[30, 150] == 1 and labels[100, 150] == 2 and labels[160, 150] == 0
        assert labels[190, 10] == -1
        assert page.inner_text("#progress") == "masks 1 of 2"
        # next image, then back: the page shows what the file holds
        page.keyboard.press("n")
        page.wait_for_function(f"state.index === 1 && {LOADED}")
        page.keyboard.press("p")
        page.wait_for_function(f"state.index === 0 && {LOADED}")
        assert page.evaluate("Paint.P.labels[100 * 300 + 150]") == 3
    finally:
        server.shutdown()


def test_prefilled_from_an_areas_model_and_hostile_names_stay_text(browser, tmp_path):  # noqa: F811
    root = tmp_path / "f"
    img = onnx_fixtures.colour_image((96, 128), red=(8, 8, 40, 32), green=(72, 48, 40, 32))
    write_png(root / "images" / "c.png", img)
    (root / "classes.csv").write_text(f'value,class\n7,"{XSS.replace(chr(34), chr(34) * 2)}"\n')
    model = onnx_fixtures.write(tmp_path / "m.onnx", onnx_fixtures.colour_areas_model())
    server, url = start(root, model)
    try:
        page = browser.new_page(bypass_csp=True)
        page.goto(url)
        page.wait_for_function(LOADED)
        page.wait_for_timeout(200)
        assert page.evaluate("window.pwned") is None
        assert page.evaluate("document.querySelectorAll('#classes img').length") == 0
        assert XSS in page.inner_text("#classes")
        assert page.is_visible("#paint-predicted")
        assert "predicted" in page.inner_text("#image-name")
        assert page.evaluate("Paint.P.labels[20 * 128 + 20]") == 2  # red, appended as value 2
        assert not (root / "masks").exists()  # a prediction is not an annotation until saved
        page.click("#save")
        m = wait_mask(root / "masks" / "c.png")
        assert m[20, 20] == 2 and m[60, 90] == 3 and m[90, 4] == 1
        page.wait_for_function("!Paint.P.im.predicted")
        assert not page.is_visible("#paint-predicted")
        assert read_areas_folder(root).classes == ["red", "green", XSS]
    finally:
        server.shutdown()


# A beforeunload event as the browser sends one: whether a handler asked to stay.
ASKS = """(() => {
  const e = new Event("beforeunload", { cancelable: true });
  window.dispatchEvent(e);
  return e.defaultPrevented;
})()"""


def test_leaving_the_page_asks_first_only_while_there_is_unsaved_paint(browser, tmp_path):  # noqa: F811
    root = areas_folder(tmp_path)
    server, url = start(root)
    try:
        page = browser.new_page(bypass_csp=True, viewport={"width": 1100, "height": 700})
        asked: list[str] = []

        def on_dialog(d) -> None:  # noqa: ANN001
            asked.append(d.type)
            d.dismiss()  # stay on the page

        page.on("dialog", on_dialog)
        page.goto(url)
        page.wait_for_function(LOADED)
        assert page.evaluate(ASKS) is False
        pick_class(page, "gland")
        stroke(page, [(40, 40), (120, 40)])
        page.wait_for_function("Paint.P.edits === 1")
        assert page.evaluate(ASKS) is True
        page.evaluate("location.reload()")  # the browser asks; dismissed, the paint stays
        page.wait_for_timeout(300)
        assert asked == ["beforeunload"]
        assert page.evaluate("Paint.P.edits === 1 && Paint.P.labels[40 * 300 + 80]") == 2
        page.keyboard.press("Control+s")
        page.wait_for_function("document.getElementById('saved').textContent === 'saved'")
        assert page.evaluate(ASKS) is False
        page.reload()  # nothing unsaved: no question
        page.wait_for_function(LOADED)
        assert asked == ["beforeunload"] and page.evaluate(ASKS) is False
        assert wait_mask(root / "masks" / "a.png")[40, 80] == 2
    finally:
        server.shutdown()
