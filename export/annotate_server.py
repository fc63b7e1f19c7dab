"""`scopecount annotate FOLDER`: a local page to add, move and remove points, saved atomically.

Served on 127.0.0.1 by the command itself; every script and style ships in export/annotate/.
Requests are checked in export/annotate_guard.py (per-run secret, Host, Origin, type, size,
shape). An areas folder (masks/ or classes.csv, or --paint) is painted instead: its store is
export/annotate_masks.py, under the same checks, lock and revisions. Each points save changes
one image's rows in points.csv under the folder's lock: the file is read as it is on disk now,
rows of other images (written meanwhile by `import` or a second `annotate`) are kept as they
are, and a save made from an old view of the same image is refused (409) with the rows on disk,
so the page reloads instead of overwriting them.
"""

from __future__ import annotations

import json
import mimetypes
import os
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Union

import numpy as np

from device.core.errors import BadInput
from device.core.imageio import read_rgb, write_atomic
from export import annotate_guard as guard
from export import pointsfile
from export.annotate_guard import Refused, SaveRequest
from export.annotate_landmarks import LandmarkStore, landmark_store, parse_landmark_save
from export.annotate_maskfiles import MAX_MASK_BODY, parse_mask_save, read_no_follow
from export.annotate_masks import MaskStore
from export.folder import STATE_FILE, TrainingFolder, read_folder

STATIC = Path(__file__).parent / "annotate"
Point = tuple[float, float, str]
Store = Union["AnnotationStore", MaskStore, LandmarkStore]
# The page loads only its own script, style and images: injected markup could run nothing.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def _disk_points(rows: list[pointsfile.Row], names: set[str]) -> dict[str, list[Point]]:
    out: dict[str, list[Point]] = {n: [] for n in names}
    for r in rows:
        if r[0] not in out or not any(r[1:]):  # `name,,,`: listed as checked and empty
            continue
        try:
            x, y, lab = round(float(r[1]), 2), round(float(r[2]), 2), r[3]
        except (ValueError, IndexError):
            raise Refused(409, f"points.csv: row {r!r} cannot be read; fix the file") from None
        out[r[0]].append((x, y, lab))
    return out


class AnnotationStore:
    mode = "points"

    def __init__(
        self,
        folder: TrainingFolder,
        predict=None,  # noqa: ANN001
        extra_classes: list[str] | None = None,
    ) -> None:
        self.root = folder.root
        self.csv = self.root / "points.csv"
        self.images_dir = (self.root / "images").resolve()
        self.lock = threading.Lock()
        self.points: dict[str, list[Point]] = {
            s.name: [(round(x, 2), round(y, 2), c) for x, y, c in s.points] for s in folder.samples
        }
        self.disk = {n: list(p) for n, p in self.points.items()}  # as last seen on disk
        self.sizes = {s.name: (s.width, s.height) for s in folder.samples}
        self.revision = {s.name: 0 for s in folder.samples}
        self.predicted: set[str] = set()
        st = self._read_state()
        self.done: set[str] = st["done"] & set(self.points)
        # `name,,,` rows say a person checked the image and found nothing: that is done.
        self.done |= {s.name for s in folder.samples if s.listed}
        self.classes = list(dict.fromkeys(folder.classes + st["classes"] + (extra_classes or [])))
        if predict is not None:
            for name, pts in self.points.items():
                if not pts and name not in self.done:
                    self.points[name] = [
                        (x, y, c) for x, y, c in predict(self.root / "images" / name)
                    ]
                    self.predicted.add(name)
            for c in getattr(predict, "classes", []):
                if c not in self.classes:
                    self.classes.append(c)
        if not self.classes:
            self.classes = ["object"]

    def _read_state(self) -> dict:
        """done images and extra classes; entries of the wrong type are dropped, not trusted."""
        try:
            st = json.loads((self.root / STATE_FILE).read_text())
        except (OSError, ValueError):
            st = {}
        st = st if isinstance(st, dict) else {}
        done = st.get("done") if isinstance(st.get("done"), list) else []
        classes = []
        for c in st.get("classes") if isinstance(st.get("classes"), list) else []:
            try:
                classes.append(guard.check_name(c, "class"))
            except Refused:
                continue
        return {"done": {d for d in done if isinstance(d, str)}, "classes": classes}

    def _sync(self) -> list[pointsfile.Row]:
        """Read points.csv as it is now; images whose rows changed on disk take those rows
        and a new revision. Returns the rows. Call with self.lock held."""
        rows = pointsfile.read_rows(self.csv)
        for name, pts in _disk_points(rows, set(self.points)).items():
            if pts != self.disk[name]:
                self.disk[name] = pts
                self.points[name] = pts
                self.revision[name] += 1
                self.predicted.discard(name)
                for c in pts:
                    if c[2] not in self.classes:
                        self.classes.append(c[2])
        return rows

    def state(self) -> dict:
        with self.lock:
            self._sync()
            return {
                "mode": "points",
                "folder": str(self.root),
                "classes": self.classes,
                "images": [
                    {
                        "name": n,
                        "width": self.sizes[n][0],
                        "height": self.sizes[n][1],
                        "done": n in self.done,
                        "predicted": n in self.predicted,
                        "revision": self.revision[n],
                        "points": [list(p) for p in self.points[n]],
                    }
                    for n in self.points
                ],
            }

    def save(self, req: SaveRequest) -> dict:
        name = req.image
        if name not in self.points:
            raise BadInput(f"{name}: not an image of this folder")
        w, h = self.sizes[name]
        for x, y, lab in req.points:
            if not (0 <= x <= w and 0 <= y <= h):
                raise BadInput(f"{name}: point ({x:g}, {y:g}, {lab!r}) is outside {w}x{h}")
        with self.lock, pointsfile.locked(self.root):
            rows = self._sync()
            if req.revision != self.revision[name]:
                return {
                    "ok": False,
                    "conflict": True,
                    "revision": self.revision[name],
                    "points": [list(p) for p in self.points[name]],
                }
            mine = [pointsfile.point_row(name, *p) for p in req.points]
            pointsfile.write_rows(self.csv, _replace_rows(rows, name, mine))
            self.points[name] = list(req.points)
            self.disk[name] = list(req.points)
            self.revision[name] += 1
            self.predicted.discard(name)
            if req.done is not None:
                (self.done.add if req.done else self.done.discard)(name)
            for c in [*(req.classes or []), *(p[2] for p in req.points)]:
                if c not in self.classes:
                    self.classes.append(c)
            self._write_state()
            return {"ok": True, "revision": self.revision[name]}

    def _write_state(self) -> None:
        """done and classes, merged with what another annotate of this folder wrote."""
        st = self._read_state()
        done = (st["done"] - set(self.points)) | self.done
        classes = list(dict.fromkeys(st["classes"] + self.classes))
        data = json.dumps({"done": sorted(done), "classes": classes})
        write_atomic(self.root / STATE_FILE, data.encode())

    def image_bytes(self, name: str) -> bytes | None:
        """An image of the folder, only as a regular file inside images/ (never a link that
        appeared since the start, a FIFO or a file elsewhere)."""
        if name not in self.points or (self.root / "images").resolve() != self.images_dir:
            return None
        return read_no_follow(self.images_dir, name)


def _replace_rows(
    rows: list[pointsfile.Row], name: str, mine: list[pointsfile.Row]
) -> list[pointsfile.Row]:
    """Rows with one image's rows replaced in place (appended when it had none)."""
    out: list[pointsfile.Row] = []
    placed = False
    for r in rows:
        if r[0] != name:
            out.append(r)
        elif not placed:
            out += mine
            placed = True
    return out if placed else out + mine


def make_handler(store: Store, token: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, fmt: str, *args: object) -> None:
            pass

        def _send(self, code: int, body: bytes, ctype: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("Referrer-Policy", "no-referrer")
            self.send_header("Content-Security-Policy", CSP)
            self.end_headers()
            self.wfile.write(body)

        def _json(self, code: int, obj: object) -> None:
            self._send(code, json.dumps(obj).encode(), "application/json")

        def _refuse(self, e: Refused) -> None:
            self.close_connection = True  # an unread body must not be taken for a request
            self._json(e.status, {"ok": False, "error": e.reason})

        @property
        def _port(self) -> int:
            return self.server.server_address[1]  # type: ignore[index]

        def _check_api(self) -> None:
            guard.check_host(self.headers.get("Host"), self._port)
            guard.check_origin(self.headers.get("Origin"), self._port)
            guard.check_token(self.headers.get(guard.TOKEN_HEADER), token)

        def do_GET(self) -> None:  # noqa: N802
            url = urllib.parse.urlparse(self.path)
            try:
                guard.check_host(self.headers.get("Host"), self._port)
                if url.path == "/api/state":
                    self._check_api()
                    return self._json(200, store.state())
                if url.path.startswith("/api/mask/") and isinstance(store, MaskStore):
                    # the token in the header (fetch) or in the address, as for images
                    sent = self.headers.get(guard.TOKEN_HEADER)
                    sent = sent or urllib.parse.parse_qs(url.query).get("token", [None])[0]
                    guard.check_origin(self.headers.get("Origin"), self._port)
                    guard.check_token(sent, token)
                    got = store.mask(urllib.parse.unquote(url.path[len("/api/mask/") :]))
                    if got is None:
                        raise Refused(404, "no such image")
                    return self._json(200, got)
                if url.path.startswith("/images/"):
                    # <img> cannot send a header: images carry the secret in their address.
                    sent = urllib.parse.parse_qs(url.query).get("token", [None])[0]
                    guard.check_token(sent, token)
                    name = urllib.parse.unquote(url.path[len("/images/") :])
                    data = store.image_bytes(name)
                    if data is None:
                        return self._send(404, b"no such image", "text/plain")
                    ctype = mimetypes.guess_type(name)[0] or "application/octet-stream"
                    return self._send(200, data, ctype)
            except Refused as e:
                return self._refuse(e)
            except BadInput as e:  # a file of the folder changed into one that cannot be read
                return self._json(409, {"ok": False, "error": str(e)})
            name = "index.html" if url.path == "/" else url.path.lstrip("/")
            f = STATIC / name
            if "/" in name or not f.is_file():
                return self._send(404, b"not found", "text/plain")
            ctype = mimetypes.guess_type(name)[0] or "text/plain"
            return self._send(200, f.read_bytes(), ctype + "; charset=utf-8")

        def do_POST(self) -> None:  # noqa: N802
            try:
                self._check_api()
                path = urllib.parse.urlparse(self.path).path
                ctype, length = self.headers.get("Content-Type"), self.headers.get("Content-Length")
                if path == "/api/points" and isinstance(store, AnnotationStore):
                    n = guard.body_length(ctype, length)
                    res = store.save(guard.parse_save(guard.parse_json(self.rfile.read(n))))
                elif path == "/api/landmarks" and isinstance(store, LandmarkStore):
                    n = guard.body_length(ctype, length)
                    body = guard.parse_json(self.rfile.read(n))
                    res = store.save(parse_landmark_save(body, len(store.names)))
                elif path == "/api/mask" and isinstance(store, MaskStore):
                    n = guard.body_length(ctype, length, MAX_MASK_BODY)
                    body = guard.parse_json(self.rfile.read(n))
                    res = store.save(parse_mask_save(body, store.sizes))
                else:
                    raise Refused(404, "not found")
            except Refused as e:
                return self._refuse(e)
            except BadInput as e:
                return self._json(400, {"ok": False, "error": str(e)})
            except OSError as e:  # a full disk, a folder where the mask goes: nothing written
                return self._json(500, {"ok": False, "error": f"not written: {e}"})
            return self._json(409 if res.get("conflict") else 200, res)

    return Handler


def serve(
    folder: str | Path,
    model: str | None = None,
    port: int = 0,
    ready=None,  # noqa: ANN001
    paint: bool = False,
    classes: list[str] | None = None,
    landmarks: int | None = None,
) -> ThreadingHTTPServer:
    """The server for FOLDER: points, paint mode for an areas folder (masks/ or classes.csv
    there, `paint`, or an areas `model`; `classes` are offered besides the folder's), or
    landmark mode (landmarks.csv there, `landmarks` N, or a landmarks `model`)."""
    tf = read_folder(folder, all_images=True)
    det = None
    if model:
        from device.measuring.detector import open_detector_file

        det = open_detector_file(model)
    lm_model = det is not None and det.task == "landmarks"
    lm_files = any(os.path.lexists(tf.root / f) for f in ("landmarks.csv", "landmarks-names.csv"))
    if lm_model or landmarks is not None or lm_files:
        if paint or classes:
            raise BadInput("--paint and --classes: for areas folders; this is a landmarks one")
        return _serve(landmark_store(tf, det, landmarks), port, ready)
    areas = det is not None and det.task == "areas"
    paint = paint or areas or any(os.path.lexists(tf.root / f) for f in ("masks", "classes.csv"))
    if det is not None and paint != areas:
        want = "an areas model pre-fills masks" if paint else "a count model pre-fills points"
        raise BadInput(f"{model}: a {det.task} model, but {want}")
    store: AnnotationStore | MaskStore
    if paint:
        predict_map = None
        if det is not None:

            def predict_map(path: Path) -> np.ndarray:
                return det.measure(read_rgb(path)).class_map  # type: ignore[return-value]

        sizes = {s.name: (s.width, s.height) for s in tf.samples}
        model_classes = list(det.info.classes) if det is not None else None
        store = MaskStore(tf.root, sizes, classes, predict_map, model_classes)
    else:
        predict = None
        if det is not None:

            def predict(path: Path) -> list:
                return det.count(read_rgb(path)).points  # type: ignore[attr-defined]

            predict.classes = det.info.classes  # type: ignore[attr-defined]
        store = AnnotationStore(tf, predict, classes)
    return _serve(store, port, ready)


def _serve(store: Store, port: int, ready) -> ThreadingHTTPServer:  # noqa: ANN001
    token = guard.new_token()
    server = ThreadingHTTPServer(("127.0.0.1", port), make_handler(store, token))
    server.daemon_threads = True
    server.token = token  # type: ignore[attr-defined]
    server.mode = store.mode  # type: ignore[attr-defined]  # points, paint or landmarks
    if ready:
        ready(server)
    return server


def address(server: ThreadingHTTPServer) -> str:
    """The page's full address, with the per-run secret the API asks for."""
    return f"http://127.0.0.1:{server.server_address[1]}/?token={server.token}"  # type: ignore[attr-defined]
