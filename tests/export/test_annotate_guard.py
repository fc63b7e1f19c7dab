"""The annotation server against raw, hostile HTTP requests (http.client, no browser).

Each refused request leaves points.csv byte for byte as it was, and the server goes on serving.
"""

import http.client
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from export.annotate_guard import MAX_POINTS, Refused, check_name
from export.annotate_server import STATE_FILE, serve
from tests.conftest import REPO, squares_image, write_png

CSV0 = "image,x,y,label\na.png,40,40,egg\nb.png,100,60,egg\n"


def make_folder(tmp: Path) -> Path:
    write_png(tmp / "f" / "images" / "a.png", squares_image([(40, 40)], shape=(200, 300)))
    write_png(tmp / "f" / "images" / "b.png", squares_image([(100, 60)], shape=(200, 300)))
    (tmp / "f" / "points.csv").write_text(CSV0)
    return tmp / "f"


class Server:
    def __init__(self, folder: Path) -> None:
        self.httpd = serve(folder)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.port = self.httpd.server_address[1]
        self.token = self.httpd.token

    def request(self, method, path, body=None, headers=None, token=True, host=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        h = {"Host": host or f"127.0.0.1:{self.port}"}
        if token:
            h["X-Scopecount-Token"] = self.token
        h.update(headers or {})
        c.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        for k, v in h.items():
            c.putheader(k, v)
        c.endheaders(body)
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, data

    def save(self, obj, **kw):
        raw = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
        headers = {"Content-Type": "application/json", "Content-Length": str(len(raw))}
        headers.update(kw.pop("headers", {}))
        return self.request("POST", "/api/points", raw, headers, **kw)

    def state(self):
        status, data = self.request("GET", "/api/state")
        assert status == 200, data
        return json.loads(data)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def served(tmp_path):
    folder = make_folder(tmp_path)
    s = Server(folder)
    yield s, folder
    s.close()


def good(points=None, revision=0):
    return {"image": "a.png", "points": points or [[10, 10, "egg"]], "revision": revision}


def test_a_good_save_with_the_token_is_written(served):
    s, folder = served
    status, data = s.save(good())
    assert status == 200, data
    assert (folder / "points.csv").read_text() == (
        "image,x,y,label\na.png,10.00,10.00,egg\nb.png,100,60,egg\n"
    )


@pytest.mark.parametrize(
    "case",
    [
        "no-token",
        "wrong-token",
        "foreign-host",
        "foreign-origin",
        "null-origin",
        "text-plain",
        "form",
        "negative-length",
        "text-length",
        "no-length",
        "huge-length",
    ],
)
def test_requests_from_elsewhere_or_malformed_are_refused(served, case):
    s, folder = served
    before = (folder / "points.csv").read_bytes()
    body = json.dumps(good()).encode()
    kw: dict = {}
    headers = {"Content-Type": "application/json", "Content-Length": str(len(body))}
    expect = 403
    if case == "no-token":
        kw["token"] = False
    elif case == "wrong-token":
        kw["token"] = False
        # one character changed (a token ending in "x" made "wrong" the right one, 1 run in 64)
        headers["X-Scopecount-Token"] = s.token[:-1] + ("y" if s.token.endswith("x") else "x")
    elif case == "foreign-host":
        kw["host"] = f"attacker.example:{s.port}"
    elif case == "foreign-origin":
        headers["Origin"] = f"http://127.0.0.1:{s.port + 1}"
    elif case == "null-origin":
        headers["Origin"] = "null"
    elif case == "text-plain":
        headers["Content-Type"] = "text/plain"
        expect = 415
    elif case == "form":
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        expect = 415
    elif case == "negative-length":
        headers["Content-Length"] = "-1"
        expect = 400
    elif case == "text-length":
        headers["Content-Length"] = "lots"
        expect = 400
    elif case == "no-length":
        del headers["Content-Length"]
        body = None
        expect = 411
    elif case == "huge-length":
        headers["Content-Length"] = str(200 * 2**20)
        expect = 413
    status, data = s.request("POST", "/api/points", body, headers, **kw)
    assert status == expect, data
    assert json.loads(data)["ok"] is False and json.loads(data)["error"]
    assert (folder / "points.csv").read_bytes() == before
    assert s.state()["images"][0]["revision"] == 0  # and the server is still up


def test_state_needs_token_and_host(served):
    s, _ = served
    assert s.request("GET", "/api/state", token=False)[0] == 403
    assert s.request("GET", "/api/state", host="attacker.example")[0] == 403
    assert s.request("GET", "/images/a.png", token=False)[0] == 403
    assert s.request("GET", f"/images/a.png?token={s.token}")[0] == 200
    assert s.request("GET", "/api/state", host=f"localhost:{s.port}")[0] == 200


SHAPES = [
    ({**good(), "classes": [{"x": 1}]}, "classes[0]"),
    ({**good(), "classes": ["egg\n=cmd"]}, "control"),
    ({**good(), "classes": ["x" * 65]}, "classes[0]"),
    ({**good(), "revision": "0"}, "revision"),
    (b'{"image": "a.png", "points": [], "revision": 1e999}', "finite"),
    (b'{"image": "a.png", "points": [[NaN, 1, "egg"]], "revision": 0}', "NaN"),
    (b"[" * 100_000 + b"]" * 100_000, "nested"),
    (good([[10, 10, "egg"]] * 2), "duplicate"),
    (good([[i % 300, i // 300 % 200, "egg"] for i in range(MAX_POINTS + 1)]), "at most"),
    (good([[10, 10]]), "points[0]"),
    (good([[True, 10, "egg"]]), "points[0] x"),
    (good([[10, 10, 7]]), "points[0] label"),
    (good([[10, 10, ""]]), "points[0] label"),
    (good([[301, 10, "egg"]]), "outside"),
    ({**good(), "done": "yes"}, "done"),
    ({**good(), "extra": 1}, "extra"),
    ({**good(), "image": "../points.csv"}, "not an image"),
    (b"not json", "JSON"),
]


@pytest.mark.parametrize("body, words", SHAPES, ids=[f"{i}-{w}" for i, (_, w) in enumerate(SHAPES)])
def test_bad_shapes_are_refused_with_a_reason_and_never_stored(served, body, words):
    s, folder = served
    before = (folder / "points.csv").read_bytes()
    status, data = s.save(body)
    assert status == 400, data
    assert words in json.loads(data)["error"]
    assert (folder / "points.csv").read_bytes() == before
    assert not (folder / STATE_FILE).exists()


def test_a_broken_state_file_does_not_stop_annotate(tmp_path):
    folder = make_folder(tmp_path)
    (folder / STATE_FILE).write_text(json.dumps({"classes": [{"x": 1}, "larva"], "done": [3]}))
    s = Server(folder)
    try:
        assert s.state()["classes"] == ["egg", "larva"]
    finally:
        s.close()


def test_rows_added_meanwhile_by_another_tool_are_kept(served):
    s, folder = served
    assert s.state()["images"][1]["points"] == [[100.0, 60.0, "egg"]]
    # `import` (or any other tool) adds rows for b.png while the page is open
    with open(folder / "points.csv", "a") as f:
        f.write("b.png,150,150,larva\n")
    status, data = s.save(good())
    assert status == 200, data
    text = (folder / "points.csv").read_text()
    assert "b.png,150,150,larva" in text and "b.png,100,60,egg" in text
    assert "a.png,10.00,10.00,egg" in text and "a.png,40,40,egg" not in text


def test_a_stale_view_of_the_same_image_is_refused_with_the_rows_on_disk(served):
    s, folder = served
    (folder / "points.csv").write_text(CSV0 + "a.png,200,100,egg\n")
    before = (folder / "points.csv").read_bytes()
    status, data = s.save(good(revision=0))
    assert status == 409, data
    out = json.loads(data)
    assert out["conflict"] and out["points"] == [[40.0, 40.0, "egg"], [200.0, 100.0, "egg"]]
    assert (folder / "points.csv").read_bytes() == before
    status, _ = s.save(good([[1, 2, "egg"]], revision=out["revision"]))
    assert status == 200


def test_two_annotates_on_one_folder_keep_each_others_rows(tmp_path):
    folder = make_folder(tmp_path)
    one, two = Server(folder), Server(folder)
    try:
        assert one.save(good([[1, 1, "egg"]]))[0] == 200
        assert two.save({"image": "b.png", "points": [[2, 2, "egg"]], "revision": 0})[0] == 200
        # two's view of a.png is old: refused, not overwritten
        assert two.save(good([[3, 3, "egg"]]))[0] == 409
        rows = (folder / "points.csv").read_text().splitlines()[1:]
        assert sorted(rows) == ["a.png,1.00,1.00,egg", "b.png,2.00,2.00,egg"]
    finally:
        one.close()
        two.close()


def test_an_image_replaced_by_a_link_is_not_served(served, tmp_path):
    s, folder = served
    secret = tmp_path / "secret.txt"
    secret.write_text("private")
    (folder / "images" / "a.png").unlink()
    (folder / "images" / "a.png").symlink_to(secret)
    status, data = s.request("GET", f"/images/a.png?token={s.token}")
    assert status == 404 and b"private" not in data
    os.mkfifo(folder / "images" / "c.png")  # not even listed, and a FIFO would block a read
    assert s.request("GET", f"/images/c.png?token={s.token}")[0] == 404
    assert s.request("GET", f"/images/b.png?token={s.token}")[0] == 200


def test_first_line_of_annotate_is_the_full_address(tmp_path):
    folder = make_folder(tmp_path)
    exe = Path(sys.executable).with_name("scopecount")
    proc = subprocess.Popen(
        [str(exe), "annotate", str(folder), "--no-browser"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=REPO,
    )
    try:
        line = proc.stdout.readline().decode().strip()
        assert line.startswith("http://127.0.0.1:") and "?token=" in line, line
        port = int(line.split(":")[2].split("/")[0])
        token = line.split("token=")[1]
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        c.request("GET", "/api/state", headers={"X-Scopecount-Token": token})
        assert c.getresponse().status == 200
        c.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.parametrize("label", ["a/b", "x" * 60, ".."])
def test_annotation_page_refuses_names_a_model_would_refuse(label):
    with pytest.raises(Refused):
        check_name(label, "label")
