"""The annotation page in real headless Chromium (Debian's), driven by Playwright."""

import csv
import shutil
import threading
import time
from pathlib import Path

import pytest

from export.annotate_server import address, serve
from tests.conftest import squares_image, write_png
from tests.support import onnx_fixtures

pytestmark = pytest.mark.slow
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def browser():
    """Chromium; pages are opened with bypass_csp=True because Playwright evaluates its
    predicates with eval(), which the page's Content-Security-Policy forbids."""
    if not CHROMIUM:
        pytest.skip("chromium is not installed (make test installs it as root)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        b.new_page().close()  # the first page of a fresh profile is slow: pay it here
        yield b
        b.close()


def start(folder: Path, model: Path | None = None):
    server = serve(folder, str(model) if model else None, 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, address(server)


def rows(folder: Path) -> list[tuple[str, float, float, str]]:
    with open(folder / "points.csv") as f:
        return [(r["image"], float(r["x"]), float(r["y"]), r["label"]) for r in csv.DictReader(f)]


def wait_rows(folder: Path, check, timeout: float = 15.0):
    """The file is the truth: poll points.csv until it shows what the page did."""
    end = time.monotonic() + timeout
    while True:
        got = rows(folder) if (folder / "points.csv").exists() else []
        if check(got) or time.monotonic() > end:
            return got
        time.sleep(0.05)


def make_folder(tmp: Path) -> Path:
    write_png(tmp / "f" / "images" / "a.png", squares_image([(40, 40)], shape=(200, 300)))
    write_png(tmp / "f" / "images" / "b.png", squares_image([(100, 60)], shape=(200, 300)))
    (tmp / "f" / "points.csv").write_text("image,x,y,label\na.png,40,40,egg\nb.png,100,60,egg\n")
    return tmp / "f"


def canvas_point(page, x, y):
    """Page coordinates of image pixel (x, y) under the current view."""
    return page.evaluate(
        "([x, y]) => { const r = canvas.getBoundingClientRect(); const v = state.view;"
        " return [r.left + v.x + x * v.s, r.top + v.y + y * v.s]; }",
        [x, y],
    )


def test_add_move_remove_switch_class_and_reload(browser, tmp_path):
    folder = make_folder(tmp_path)
    server, url = start(folder)
    try:
        page = browser.new_page(bypass_csp=True, viewport={"width": 1100, "height": 700})
        page.goto(url)
        page.wait_for_function("state.img && state.img.complete && state.images.length === 2")
        assert page.inner_text("#progress") == "done 0 of 2"
        # add a point of the first class
        x, y = canvas_point(page, 200, 150)
        page.mouse.click(x, y)
        page.wait_for_function("current().points.length === 2 && current().revision === 1")
        # new class, selected, then a point of it
        page.fill("#new-class-name", "larva")
        page.press("#new-class-name", "Enter")
        page.wait_for_function("state.classes.length === 2 && state.cls === 1")
        page.keyboard.press("1")
        page.keyboard.press("2")
        x, y = canvas_point(page, 250, 50)
        page.mouse.click(x, y)
        page.wait_for_function("current().points.length === 3 && current().revision >= 3")
        assert "larva: 1" in page.inner_text("#counts")
        # drag the original egg from (40,40) to (60,80)
        x0, y0 = canvas_point(page, 40, 40)
        x1, y1 = canvas_point(page, 60, 80)
        page.mouse.move(x0, y0)
        page.mouse.down()
        page.mouse.move(x1, y1, steps=8)
        page.mouse.up()
        page.wait_for_function("Math.abs(current().points[0][0] - 60) < 1.5")
        page.wait_for_function("document.getElementById('saved').textContent === 'saved'")
        # remove the point at (200,150)
        x, y = canvas_point(page, 200, 150)
        page.mouse.click(x, y)
        page.wait_for_function("current().points.length === 2")
        page.wait_for_timeout(300)
        got = sorted(
            (r[0], round(r[1]), round(r[2]), r[3]) for r in rows(folder) if r[0] == "a.png"
        )
        assert got == [("a.png", 60, 80, "egg"), ("a.png", 250, 50, "larva")]
        # done, then reload: the page shows what the file holds
        page.keyboard.press("d")
        page.wait_for_function("state.index === 1")
        page.reload()
        page.wait_for_function("state.img && state.images.length === 2")
        assert page.inner_text("#progress") == "done 1 of 2"
        a = page.evaluate("state.images[0].points")
        assert sorted((round(p[0]), round(p[1]), p[2]) for p in a) == [
            (60, 80, "egg"),
            (250, 50, "larva"),
        ]
        assert ("b.png", 100.0, 60.0, "egg") in rows(folder)  # the other image is untouched
    finally:
        server.shutdown()


def test_two_tabs_do_not_corrupt(browser, tmp_path):
    folder = make_folder(tmp_path)
    server, url = start(folder)
    try:
        a, b = browser.new_page(bypass_csp=True), browser.new_page(bypass_csp=True)
        for p in (a, b):
            p.goto(url)
            p.wait_for_function("state.img && state.img.complete")
        x, y = canvas_point(a, 150, 100)
        a.mouse.click(x, y)
        a.wait_for_function("current().revision === 1")
        # tab b still holds revision 0: its change is refused and it reloads the image
        x, y = canvas_point(b, 20, 150)
        b.mouse.click(x, y)
        b.wait_for_function("document.getElementById('saved').textContent.includes('another tab')")
        assert b.evaluate("current().points.length") == 2
        r = rows(folder)
        assert sorted((p[0], round(p[1])) for p in r) == [
            ("a.png", 40),
            ("a.png", 150),
            ("b.png", 100),
        ]
    finally:
        server.shutdown()


def test_prefilled_from_model(browser, tmp_path):
    write_png(tmp_path / "f" / "images" / "c.png", squares_image([(40, 40), (120, 80)]))
    model = onnx_fixtures.write(tmp_path / "m.onnx", onnx_fixtures.bright_spot_model(["egg"]))
    server, url = start(tmp_path / "f", model)
    try:
        page = browser.new_page(bypass_csp=True)
        page.goto(url)
        page.wait_for_function("state.img && state.img.complete")
        assert page.evaluate("current().points.length") == 2
        assert page.is_visible("#predicted-note")
        assert not (tmp_path / "f" / "points.csv").exists()  # predictions are not annotations yet
        page.keyboard.press("d")
        page.wait_for_function("state.images[0].done")
        assert len(rows(tmp_path / "f")) == 2
    finally:
        server.shutdown()
