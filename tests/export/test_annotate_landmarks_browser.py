"""Landmark mode of the annotation page in real headless Chromium, driven by Playwright: the
file on disk (landmarks.csv) is the truth."""

import csv
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from export.annotate_server import address, serve
from tests.conftest import write_png
from tests.export.test_annotate_browser import browser, canvas_point  # noqa: F401
from tests.support import onnx_fixtures
from tests.support.onnx_fixtures import LANDMARK_DOTS, landmark_image

pytestmark = pytest.mark.slow
XSS = '<img src=x onerror="window.pwned=1">'
LOADED = "state.mode === 'landmarks' && state.img && current()"


def wings(tmp: Path) -> Path:
    root = tmp / "wings"
    for n in ("a.png", "b.png"):
        write_png(root / "images" / n, landmark_image((120, 160), grey=110))
    (root / "landmarks-names.csv").write_text(f"landmark,name\n1,humeral\n2,{XSS}\n3,L5 tip\n")
    return root


def start(folder: Path, model: Path | None = None, landmarks: int | None = None):
    server = serve(folder, str(model) if model else None, 0, landmarks=landmarks)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, address(server)


def rows(folder: Path) -> list[tuple[str, int, float, float]]:
    try:
        with open(folder / "landmarks.csv") as f:
            return [
                (r["image"], int(r["landmark"]), float(r["x"]), float(r["y"]))
                for r in csv.DictReader(f)
            ]
    except FileNotFoundError:
        return []


def wait_rows(folder: Path, check, timeout: float = 15.0):
    end = time.monotonic() + timeout
    while True:
        got = rows(folder)
        if check(got) or time.monotonic() > end:
            return got
        time.sleep(0.05)


def test_place_skip_move_and_names_are_text(browser, tmp_path):  # noqa: F811
    root = wings(tmp_path)
    server, url = start(root)
    try:
        page = browser.new_page(bypass_csp=True, viewport={"width": 1100, "height": 700})
        page.goto(url)
        page.wait_for_function(LOADED)
        assert page.inner_text("#next-landmark") == "1. humeral"
        assert XSS in page.inner_text("#classes") and not page.evaluate("window.pwned")
        page.mouse.click(*canvas_point(page, 20, 30))  # landmark 1
        page.wait_for_function("Landmarks.L.saves === 1")
        assert page.inner_text("#next-landmark").startswith("2.")
        page.keyboard.press("s")  # landmark 2 is missing on this wing
        page.wait_for_function("Landmarks.L.saves === 2")
        page.mouse.click(*canvas_point(page, 100, 80))  # landmark 3
        got = wait_rows(root, lambda r: len(r) == 2)
        assert [r[:2] for r in got] == [("a.png", 1), ("a.png", 3)]
        assert np.allclose([r[2:] for r in got], [(20, 30), (100, 80)], atol=0.5)
        # drag landmark 1 to a new place
        page.mouse.move(*canvas_point(page, 20, 30))
        page.mouse.down()
        page.mouse.move(*canvas_point(page, 50, 40), steps=8)
        page.mouse.up()
        got = wait_rows(root, lambda r: abs(r[0][2] - 50) < 0.5)
        assert np.allclose(got[0][2:], (50, 40), atol=0.5) and len(got) == 2
        # reload: the page shows what the file holds
        page.reload()
        page.wait_for_function(LOADED)
        lms = page.evaluate("current().landmarks")
        assert lms[1] is None and np.allclose([lms[0], lms[2]], [(50, 40), (100, 80)], atol=0.5)
        page.keyboard.press("d")  # done, and on to b.png
        page.wait_for_function("current().name === 'b.png'")
        assert page.inner_text("#progress") == "done 1 of 2"
    finally:
        server.shutdown()


def test_a_landmarks_model_prefills_and_a_save_keeps_it(browser, tmp_path):  # noqa: F811
    root = wings(tmp_path)
    model = onnx_fixtures.write(tmp_path / "lm.onnx", onnx_fixtures.colour_landmarks_model())
    server, url = start(root, model)
    try:
        page = browser.new_page(bypass_csp=True, viewport={"width": 1100, "height": 700})
        page.goto(url)
        page.wait_for_function(LOADED)
        want = [[x + 1.5, y + 1.5] for x, y in LANDMARK_DOTS]
        assert page.evaluate("current().landmarks") == want
        assert page.is_visible("#landmark-predicted")
        page.keyboard.press("d")
        got = wait_rows(root, lambda r: len(r) == 3)
        assert np.allclose([r[2:] for r in got], want)
    finally:
        server.shutdown()
