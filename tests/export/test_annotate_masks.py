"""Paint mode of the annotation server, over HTTP: masks/NAME.png and classes.csv round trips,
revisions, and every refusal leaving the folder exactly as it was."""

import http.client
import json
import os
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from device.core.errors import BadInput
from export.annotate_maskfiles import decode_rle, encode_rle
from export.annotate_server import serve
from export.areas_folder import read_areas_folder
from tests.conftest import squares_image, write_png
from tests.support import onnx_fixtures

W, H = 30, 20
CLASSES = "value,class\n2,gland\n3,stroma\n"


def areas_folder(tmp: Path, classes: str | None = CLASSES) -> Path:
    root = tmp / "f"
    write_png(root / "images" / "a.png", squares_image([(8, 8)], shape=(H, W), side=4))
    write_png(root / "images" / "b.png", squares_image([(20, 10)], shape=(H, W), side=4))
    (root / "masks").mkdir()
    if classes is not None:
        (root / "classes.csv").write_text(classes)
    return root


class Client:
    def __init__(self, server) -> None:
        self.server, self.port, self.token = server, server.server_address[1], server.token

    def call(self, method: str, path: str, body=None, headers: dict | None = None):
        h = {
            "Host": f"127.0.0.1:{self.port}",
            "X-Scopecount-Token": self.token,
            "Content-Type": "application/json",
        }
        h.update(headers or {})
        h = {k: v for k, v in h.items() if v is not None}
        data = body if isinstance(body, bytes) else None if body is None else json.dumps(body)
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        for k, v in h.items():
            conn.putheader(k, v)
        raw = data.encode() if isinstance(data, str) else data
        if raw is not None and "Content-Length" not in h:
            conn.putheader("Content-Length", str(len(raw)))
        conn.endheaders(raw)
        res = conn.getresponse()
        text = res.read()
        conn.close()
        return res.status, json.loads(text) if text.startswith(b"{") else text

    def state(self) -> dict:
        return self.call("GET", "/api/state")[1]

    def mask(self, name: str) -> np.ndarray:
        status, got = self.call("GET", f"/api/mask/{name}?token={self.token}", headers={})
        assert status == 200, got
        return decode_rle(got["rle"], got["width"], got["height"])

    def save(self, labels: np.ndarray, image="a.png", revision=0, classes=None, **extra):
        body = {
            "image": image,
            "revision": revision,
            "width": labels.shape[1],
            "height": labels.shape[0],
            "rle": encode_rle(labels),
            "classes": classes if classes is not None else [[2, "gland"], [3, "stroma"]],
            **extra,
        }
        return self.call("POST", "/api/mask", body)


@pytest.fixture
def client_for():
    servers = []

    def make(folder: Path, **kw) -> Client:
        server = serve(folder, **kw)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return Client(server)

    yield make
    for s in servers:
        s.shutdown()
        s.server_close()


def snapshot(root: Path) -> dict[str, object]:
    """Every entry under root (links as links), the folder lock left aside."""
    out: dict[str, object] = {}
    for dirpath, dirs, files in os.walk(root):
        for n in dirs + files:
            p = Path(dirpath) / n
            rel = str(p.relative_to(root))
            if n == ".points.csv.lock":
                continue
            if p.is_symlink():
                out[rel] = ("link", os.readlink(p))
            elif p.is_file():
                out[rel] = p.read_bytes()
            else:
                out[rel] = "dir"
    return out


def painted() -> np.ndarray:
    labels = np.zeros((H, W), np.uint8)
    labels[2:8, 3:12] = 2
    labels[10:18, 15:28] = 3
    return labels


def read_png(path: Path) -> np.ndarray:
    m = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert m is not None and m.dtype == np.uint8 and m.ndim == 2
    return m


def test_state_offers_the_folder_classes_and_background(client_for, tmp_path):
    c = client_for(areas_folder(tmp_path))
    st = c.state()
    assert st["mode"] == "paint" and st["zero"] == "unlabelled" and st["can_add"]
    assert st["classes"] == [
        {"value": 1, "name": "background", "saved": False},
        {"value": 2, "name": "gland", "saved": True},
        {"value": 3, "name": "stroma", "saved": True},
    ]
    assert [(i["name"], i["width"], i["height"], i["done"]) for i in st["images"]] == [
        ("a.png", W, H, False),
        ("b.png", W, H, False),
    ]
    assert (c.mask("a.png") == 0).all()  # no mask yet: all unlabelled


def test_save_load_round_trip_and_background_gets_value_1(client_for, tmp_path):
    root = areas_folder(tmp_path)
    c = client_for(root)
    labels = painted()
    status, out = c.save(labels)
    assert status == 200 and out == {"ok": True, "revision": 1, "classes": c.state()["classes"]}
    assert (read_png(root / "masks" / "a.png") == labels).all()
    assert (c.mask("a.png") == labels).all()
    assert (root / "classes.csv").read_text() == CLASSES  # background not painted: not written
    # now background too: classes.csv gains 1,background, atomically, before the mask
    labels[0, :] = 1
    status, out = c.save(labels, revision=1, classes=[[1, "background"], [2, "gland"]])
    assert status == 200 and out["revision"] == 2
    assert (root / "classes.csv").read_text() == "value,class\n1,background\n2,gland\n3,stroma\n"
    assert [x["saved"] for x in out["classes"]] == [True, True, True]
    folder = read_areas_folder(root)
    assert folder.classes == ["gland", "stroma"] and folder.left_out == ["b.png"]
    got = folder.samples[0].labels()
    assert got[0, 0] == 0 and got[3, 4] == 1 and got[12, 20] == 2 and got[19, 0] == -1
    assert c.state()["images"][0]["done"]


def test_a_class_added_by_the_request_is_written_neutralised(client_for, tmp_path):
    root = areas_folder(tmp_path)
    c = client_for(root)
    labels = painted()
    labels[15:, :3] = 7
    status, out = c.save(labels, classes=[[2, "gland"], [7, "=SUM(A1)"]])
    assert status == 200, out
    assert (root / "classes.csv").read_text().splitlines()[-1] == "7,'=SUM(A1)"
    assert read_areas_folder(root).classes == ["gland", "stroma", "=SUM(A1)"]
    assert {"value": 7, "name": "=SUM(A1)", "saved": True} in out["classes"]


def test_stale_revision_is_409_and_changes_nothing(client_for, tmp_path):
    root = areas_folder(tmp_path)
    c = client_for(root)
    assert c.save(painted())[0] == 200
    before = snapshot(root)
    status, out = c.save(np.full((H, W), 3, np.uint8), revision=0)
    assert status == 409 and out["conflict"] and out["revision"] == 1
    assert snapshot(root) == before
    # another tool rewrites the mask: the page's revision 1 is stale now
    cv2.imwrite(str(root / "masks" / "a.png"), np.full((H, W), 2, np.uint8))
    before = snapshot(root)
    status, out = c.save(painted(), revision=1)
    assert status == 409 and out["revision"] == 2
    assert snapshot(root) == before
    assert (c.mask("a.png") == 2).all()


def test_a_value_the_csv_now_gives_another_class_is_409(client_for, tmp_path):
    """Two tabs each added a class as value 4: the second must not save its pixels as the
    first one's class."""
    root = areas_folder(tmp_path)
    c = client_for(root)
    labels = np.zeros((H, W), np.uint8)
    labels[0] = 4
    assert c.save(labels, classes=[[4, "duct"]])[0] == 200
    before = snapshot(root)
    status, out = c.save(labels, image="b.png", classes=[[4, "vessel"]])
    assert status == 409 and "duct" in out["error"]
    assert snapshot(root) == before


def body(labels=None, **over):
    labels = painted() if labels is None else labels
    b = {
        "image": "a.png",
        "revision": 0,
        "width": W,
        "height": H,
        "rle": encode_rle(labels),
        "classes": [[2, "gland"], [3, "stroma"]],
    }
    b.update(over)
    return b


WIDE = np.zeros((H, W + 1), np.uint8)
REFUSED = [
    ("wrong size", body(WIDE, width=W + 1), 400),
    ("runs short of the size", body(rle=[0, W * H - 1]), 400),
    ("runs past the size", body(rle=[0, W * H, 2, 1]), 400),
    ("value over 255", body(rle=[256, W * H]), 400),
    ("negative value", body(rle=[-1, W * H]), 400),
    ("float run", body(rle=[0, float(W * H)]), 400),
    ("bool value", body(rle=[True, W * H]), 400),
    ("huge number", body(rle=[0, 2**70]), 400),
    ("value not in classes.csv", body(np.full((H, W), 9, np.uint8)), 400),
    ("class name with /", body(np.full((H, W), 9, np.uint8), classes=[[9, "a/b"]]), 400),
    ("class name with newline", body(np.full((H, W), 9, np.uint8), classes=[[9, "a\nb"]]), 400),
    ("empty class name", body(np.full((H, W), 9, np.uint8), classes=[[9, " "]]), 400),
    ("class value 0", body(classes=[[0, "x"]]), 400),
    ("class value 256", body(classes=[[256, "x"]]), 400),
    ("class listed twice", body(classes=[[2, "gland"], [5, "Gland"]]), 400),
    # csvsafe writes '=x unchanged and reads it back as =x: it would collide with =x
    (
        "class name with a leading quote",
        body(np.full((H, W), 5, np.uint8), classes=[[5, "'=x"]]),
        400,
    ),
    ("class name of a quote", body(np.full((H, W), 5, np.uint8), classes=[[5, "'gland"]]), 400),
    ("image not in the folder", body(image="c.png"), 400),
    ("image name with /", body(image="../f/images/a.png"), 400),
    ("image name in a subfolder", body(image="images/a.png"), 400),
    ("image name with a leading dot", body(image=".a.png"), 400),
    ("unknown field", body(points=[]), 400),
    ("negative revision", body(revision=-1), 400),
    ("bool revision", body(revision=True), 400),
    ("not an object", [1, 2], 400),
]


@pytest.mark.parametrize("why,req,status", REFUSED, ids=[r[0] for r in REFUSED])
def test_refused_saves_change_nothing(client_for, tmp_path, why, req, status):
    root = areas_folder(tmp_path)
    c = client_for(root)
    before = snapshot(root)
    got, out = c.call("POST", "/api/mask", req)
    assert got == status, (why, out)
    assert out["ok"] is False and out["error"]
    assert snapshot(root) == before


GUARDS = [
    ("no token", {"X-Scopecount-Token": None}, 403),
    ("wrong token", {"X-Scopecount-Token": "x" * 32}, 403),
    ("rebound host", {"Host": "evil.example:80"}, 403),
    ("foreign origin", {"Origin": "http://evil.example"}, 403),
    ("text/plain", {"Content-Type": "text/plain"}, 415),
    ("over the size limit", {"Content-Length": str(17 * 2**20)}, 413),
]


@pytest.mark.parametrize("why,headers,status", GUARDS, ids=[g[0] for g in GUARDS])
def test_guards_refuse_and_change_nothing(client_for, tmp_path, why, headers, status):
    root = areas_folder(tmp_path)
    c = client_for(root)
    before = snapshot(root)
    got, _ = c.call("POST", "/api/mask", body(), headers)
    assert got == status, why
    assert snapshot(root) == before


@pytest.mark.parametrize("width, height", [(12000, 12000), (2**16, 2**16), (W, 2**16)])
def test_a_size_other_than_the_image_is_refused_before_anything_is_allocated(
    client_for, tmp_path, width, height
):
    """A save declaring a huge size with one run (a few bytes) must be refused from the image's
    real size, not after decoding width*height pixels."""
    import time
    import tracemalloc

    root = areas_folder(tmp_path)
    c = client_for(root)
    before = snapshot(root)
    tracemalloc.start()
    try:
        t0 = time.monotonic()
        got, out = c.call(
            "POST", "/api/mask", body(width=width, height=height, rle=[0, width * height])
        )
        took = time.monotonic() - t0
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert got == 400 and f"{W}x{H}" in out["error"], out
    assert peak < 50 * 2**20 and took < 5, (peak, took)
    assert snapshot(root) == before


def test_runs_are_bounded_by_the_size_before_decoding():
    from export.annotate_maskfiles import Refused, parse_mask_save

    sizes = {"a.png": (W, H)}
    assert (parse_mask_save(body(), sizes).labels == painted()).all()
    for rle in ([0, 2**40], [0, W * H, 0, 2**40], [0, W * H - 1]):
        with pytest.raises(Refused, match="runs"):
            parse_mask_save(body(rle=rle), sizes)
    with pytest.raises(Refused, match="not an image"):
        parse_mask_save(body(image="c.png"), sizes)


def test_mask_get_needs_the_token_and_an_image_of_the_folder(client_for, tmp_path):
    c = client_for(areas_folder(tmp_path))
    assert c.call("GET", "/api/mask/a.png", headers={"X-Scopecount-Token": None})[0] == 403
    assert (
        c.call("GET", "/api/mask/a.png?token=nope", headers={"X-Scopecount-Token": None})[0] == 403
    )
    for name in ("c.png", "..%2Fclasses.csv", ".a.png"):
        assert c.call("GET", f"/api/mask/{name}?token={c.token}")[0] == 404
    assert c.call("GET", "/api/mask/a.png", headers={"Host": "evil.example"})[0] == 403


def test_links_in_masks_are_never_followed(client_for, tmp_path):
    root = areas_folder(tmp_path)
    secret = tmp_path / "secret.png"
    cv2.imwrite(str(secret), np.full((H, W), 2, np.uint8))
    secret_bytes = secret.read_bytes()
    (root / "masks" / "a.png").symlink_to(secret)
    c = client_for(root)
    status, out = c.call("GET", f"/api/mask/a.png?token={c.token}")
    assert status == 409 and "regular file" in out["error"]
    # a save replaces the link itself: the file it pointed at is untouched
    status, out = c.save(painted(), revision=c.state()["images"][0]["revision"])
    assert status == 200, out
    assert not (root / "masks" / "a.png").is_symlink()
    assert secret.read_bytes() == secret_bytes
    # masks/ swapped for a link after the start: refused, nothing written through it
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (root / "masks").rename(tmp_path / "old-masks")
    (root / "masks").symlink_to(elsewhere)
    before = snapshot(root)
    status, out = c.save(painted(), image="b.png")
    assert status == 409 and "masks/" in out["error"]
    assert snapshot(root) == before and not any(elsewhere.iterdir())


def test_masks_link_at_start_is_refused(tmp_path):
    root = areas_folder(tmp_path)
    (root / "masks").rmdir()
    (tmp_path / "elsewhere").mkdir()
    (root / "masks").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(BadInput, match="masks"):
        serve(root)


def test_paint_in_a_folder_of_images_with_classes_option(client_for, tmp_path):
    root = areas_folder(tmp_path, classes=None)
    (root / "masks").rmdir()
    c = client_for(root, paint=True, classes=["gland", "duct"])
    st = c.state()
    assert [(x["value"], x["name"], x["saved"]) for x in st["classes"]] == [
        (1, "background", False),
        (2, "gland", False),
        (3, "duct", False),
    ]
    labels = np.zeros((H, W), np.uint8)
    labels[:5] = 3
    status, out = c.save(labels, classes=[[1, "background"], [2, "gland"], [3, "duct"]])
    assert status == 200, out
    assert (root / "classes.csv").read_text() == "value,class\n3,duct\n"  # only what is painted
    assert (read_png(root / "masks" / "a.png") == labels).all()


def test_default_class_is_region(client_for, tmp_path):
    root = areas_folder(tmp_path, classes=None)
    (root / "masks").rmdir()
    names = [x["name"] for x in client_for(root, paint=True).state()["classes"]]
    assert names == ["background", "region"]


def test_folder_of_0_255_masks_stays_one(client_for, tmp_path):
    """Without classes.csv 0 is background there: writing one would unlabel it everywhere."""
    root = areas_folder(tmp_path, classes=None)
    m = np.zeros((H, W), np.uint8)
    m[5:10] = 255
    cv2.imwrite(str(root / "masks" / "b.png"), m)
    c = client_for(root)
    st = c.state()
    assert st["zero"] == "background" and not st["can_add"]
    assert st["classes"] == [{"value": 255, "name": "region", "saved": True}]
    assert (c.mask("b.png") == m).all()
    before = snapshot(root)
    labels = np.zeros((H, W), np.uint8)
    labels[0] = 1
    status, _ = c.save(labels, classes=[[1, "gland"]])
    assert status == 400 and snapshot(root) == before
    labels[0] = 255
    assert c.save(labels, classes=[[255, "region"]])[0] == 200
    assert not (root / "classes.csv").exists()
    assert read_areas_folder(root).classes == ["region"]


def test_prefilled_from_an_areas_model(client_for, tmp_path):
    root = tmp_path / "f"
    img = onnx_fixtures.colour_image((32, 48), red=(4, 4, 16, 12), green=(28, 16, 16, 12))
    write_png(root / "images" / "c.png", img)
    (root / "classes.csv").write_text("value,class\n5,green\n")
    model = onnx_fixtures.write(tmp_path / "m.onnx", onnx_fixtures.colour_areas_model())
    c = client_for(root, model=str(model))
    st = c.state()
    # green keeps its value; the model's red is appended; background takes 1
    assert [(x["value"], x["name"]) for x in st["classes"]] == [
        (1, "background"),
        (2, "red"),
        (5, "green"),
    ]
    assert st["images"][0]["predicted"]
    labels = c.mask("c.png")
    assert labels[10, 10] == 2 and labels[22, 36] == 5 and labels[30, 2] == 1
    assert not (root / "masks").exists()  # a prediction is not an annotation until saved
    status, out = c.save(labels, image="c.png", classes=[[1, "background"], [2, "red"]])
    assert status == 200, out
    assert (root / "classes.csv").read_text() == "value,class\n1,background\n2,red\n5,green\n"
    assert not c.state()["images"][0]["predicted"]


def test_a_count_model_cannot_prefill_masks(tmp_path, spot_model):
    with pytest.raises(BadInput, match="count model"):
        serve(areas_folder(tmp_path), str(spot_model))


def test_points_folder_stays_points(client_for, tmp_path):
    write_png(tmp_path / "p" / "images" / "a.png", squares_image([(40, 40)]))
    c = client_for(tmp_path / "p", classes=["egg"])
    st = c.state()
    assert st["mode"] == "points" and st["classes"] == ["egg"]
    assert c.call("POST", "/api/mask", body())[0] == 404


def test_classes_option_is_checked():
    import argparse

    from device.cli.annotate_cmd import _classes

    assert _classes("gland, duct,Gland") == ["gland", "duct"]
    for bad in ("a/b", "gland,,duct", "x" * 65, "'=x", "a,'b"):
        with pytest.raises(argparse.ArgumentTypeError):
            _classes(bad)


@pytest.mark.parametrize("case", ["areas", "paint", "model", "points"])
def test_annotate_says_when_paint_is_saved(tmp_path, monkeypatch, capsys, case):
    from socketserver import BaseServer

    from device.cli.main import build_parser

    def stop(server, *a, **k):  # noqa: ANN001, ANN002, ANN003
        server.server_close()
        raise KeyboardInterrupt  # as Ctrl-C would

    monkeypatch.setattr(BaseServer, "serve_forever", stop)
    if case == "areas":
        root = areas_folder(tmp_path)
    else:
        root = tmp_path / "p"
        write_png(root / "images" / "a.png", squares_image([(40, 40)]))
    args = ["annotate", str(root), "--no-browser"]
    if case == "paint":
        args.append("--paint")
    if case == "model":
        model = onnx_fixtures.write(tmp_path / "m.onnx", onnx_fixtures.colour_areas_model())
        args += ["--model", str(model)]
    a = build_parser().parse_args(args)
    assert a.func(a) == 0
    said = capsys.readouterr().out.splitlines()[1]
    if case == "points":
        assert said.endswith("(Ctrl-C to stop; every change is saved)")
    else:
        assert "every change" not in said
        assert said.endswith(
            "(Ctrl-C to stop; paint is saved with Ctrl+S or on moving to another image)"
        )
