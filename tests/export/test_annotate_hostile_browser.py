"""The annotation page under attack, in real Chromium: a hostile class name stays text, and a
page from another origin cannot change points.csv."""

import csv
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.conftest import squares_image, write_png
from tests.export.test_annotate_browser import browser, start  # noqa: F401  (fixture)

pytestmark = pytest.mark.slow

XSS = '<img src=x onerror="window.pwned=1">'


def hostile_folder(tmp):
    write_png(tmp / "f" / "images" / "a.png", squares_image([(40, 40)], shape=(200, 300)))
    with open(tmp / "f" / "points.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["image", "x", "y", "label"])
        w.writerow(["a.png", 40, 40, XSS])
        w.writerow(["a.png", 80, 80, "<b>bold</b>"])
    return tmp / "f"


def test_hostile_class_name_is_shown_as_text_and_runs_nothing(browser, tmp_path):  # noqa: F811
    folder = hostile_folder(tmp_path)
    server, url = start(folder)
    try:
        # bypass_csp: the page's own Content-Security-Policy would also stop the script; this
        # proves the page never builds markup from the name in the first place.
        page = browser.new_page(bypass_csp=True)
        page.goto(url)
        page.wait_for_function("state.img && state.img.complete")
        page.wait_for_timeout(300)
        assert page.evaluate("window.pwned") is None
        assert page.evaluate("document.querySelectorAll('aside img, aside b b').length") == 0
        items = page.inner_text("#classes")
        assert XSS in items and "<b>bold</b>" in items
        assert f"{XSS}: 1" in page.inner_text("#counts")
    finally:
        server.shutdown()


def hostile_site(target_port: int) -> ThreadingHTTPServer:
    """A page on another port that tries every way a browser lets it write to the target."""
    body = {"image": "a.png", "points": [[5, 5, "pwned"]], "revision": 0}
    js = f"""
    const T = "http://127.0.0.1:{target_port}";
    const B = '{json.dumps(body)}';
    (async () => {{
      const tries = [
        fetch(T + "/api/points", {{method: "POST", mode: "no-cors", body: B,
                                   headers: {{"Content-Type": "text/plain"}}}}),
        fetch(T + "/api/points", {{method: "POST", body: B,
                                   headers: {{"Content-Type": "application/json"}}}}),
        fetch(T + "/api/points", {{method: "POST", mode: "no-cors", body: B}}),
        fetch(T + "/api/state").then(r => r.text()).then(t => {{ window.stolen = t; }}),
      ];
      await Promise.allSettled(tries);
      const f = document.getElementById("f");
      f.action = T + "/api/points";
      f.elements[0].name = B.slice(0, -2);
      f.elements[0].value = '"}}';
      f.submit();
      setTimeout(() => {{ window.done = true; }}, 1000);
    }})();
    """
    html = (
        '<!doctype html><form id="f" method="POST" enctype="text/plain" target="sink">'
        '<input type="hidden"></form><iframe name="sink"></iframe>'
        f"<script>{js}</script>"
    ).encode()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(html)))
            self.end_headers()
            self.wfile.write(html)

    site = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=site.serve_forever, daemon=True).start()
    return site


def test_a_page_on_another_port_cannot_change_points(browser, tmp_path):  # noqa: F811
    folder = hostile_folder(tmp_path)
    before = (folder / "points.csv").read_bytes()
    server, _ = start(folder)
    site = hostile_site(server.server_address[1])
    try:
        page = browser.new_page()
        page.goto(f"http://127.0.0.1:{site.server_address[1]}/")
        page.wait_for_function("window.done === true", timeout=15000)
        time.sleep(0.3)
        assert page.evaluate("window.stolen") is None
        assert (folder / "points.csv").read_bytes() == before
    finally:
        site.shutdown()
        server.shutdown()


def test_stacked_points_dot_size_zoom_and_no_404(browser, tmp_path):  # noqa: F811
    """Points 0-2 px apart are counted as a stack, dots are smaller than the objects at fit
    zoom, the zoom is shown, and the page asks for nothing that is not there (favicon)."""
    centres = [(30 + 12 * k, 40) for k in range(8)]  # 8 px squares, 12 px apart
    write_png(tmp_path / "f" / "images" / "a.png", squares_image(centres, (100, 160), 8))
    rows = "".join(f"a.png,{x},{y},egg\n" for x, y in centres)
    rows += "a.png,30.5,40,egg\na.png,31,41.5,egg\n"  # two more on the first object
    (tmp_path / "f" / "points.csv").write_text("image,x,y,label\n" + rows)
    server, url = start(tmp_path / "f")
    try:
        page = browser.new_page(bypass_csp=True, viewport={"width": 900, "height": 600})
        missing = []
        page.on("response", lambda r: r.status == 404 and missing.append(r.url))
        page.goto(url)
        page.wait_for_function("state.img && state.img.complete")
        groups = page.evaluate("stacks(current().points)")
        assert [sorted(g) for g in groups] == [[0, 8, 9]]
        fit = page.evaluate("state.view.s")
        assert page.inner_text("#zoom") == f"zoom {round(fit * 100)}%"
        # dot diameter on screen at most the object's size on screen (8 px squares)
        assert 2 * page.evaluate("radius()") <= 8 * fit + 1e-6 or page.evaluate("radius()") == 2
        page.keyboard.press("+")
        assert page.inner_text("#zoom") == f"zoom {round(fit * 125)}%"
        page.wait_for_timeout(200)
        assert missing == []
    finally:
        server.shutdown()
