"""`scopecount annotate FOLDER`: a local page to add, move and remove points, saved atomically.

Served on 127.0.0.1 by the command itself; every script and style ships in export/annotate/.
Each save replaces one image's rows in points.csv under a lock (read, modify, write to a temp
name, fsync, rename), with a revision per image: a tab holding an old revision is told to reload
instead of overwriting another tab's work.
"""

from __future__ import annotations

import csv
import io
import json
import mimetypes
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from device.errors import BadInput
from device.imageio import write_atomic
from export.folder import HEADER, STATE_FILE, TrainingFolder, done_images, read_folder

STATIC = Path(__file__).parent / "annotate"
MAX_BODY = 16 * 1024 * 1024


class AnnotationStore:
    def __init__(self, folder: TrainingFolder, predict=None) -> None:  # noqa: ANN001
        self.folder = folder
        self.root = folder.root
        self.lock = threading.Lock()
        self.points = {s.name: [[x, y, c] for x, y, c in s.points] for s in folder.samples}
        self.sizes = {s.name: (s.width, s.height) for s in folder.samples}
        self.revision = {s.name: 0 for s in folder.samples}
        self.predicted: set[str] = set()
        st = self._read_state()
        self.done: set[str] = set(st.get("done", [])) & set(self.points)
        # What the folder already counts as annotated stays so once annotate saves its state:
        # `name,,,` rows, and every image of a folder made by another tool (no state yet).
        self.done |= {s.name for s in folder.samples if s.listed}
        if done_images(self.root) is None and (self.root / "points.csv").exists():
            self.done |= set(self.points)
        self.classes = list(dict.fromkeys(folder.classes + st.get("classes", [])))
        if predict is not None:
            for name, pts in self.points.items():
                if not pts and name not in self.done:
                    self.points[name] = [
                        [x, y, c] for x, y, c in predict(self.root / "images" / name)
                    ]
                    self.predicted.add(name)
            for c in getattr(predict, "classes", []):
                if c not in self.classes:
                    self.classes.append(c)
        if not self.classes:
            self.classes = ["object"]

    def _read_state(self) -> dict:
        try:
            return json.loads((self.root / STATE_FILE).read_text())
        except (OSError, ValueError):
            return {}

    def state(self) -> dict:
        with self.lock:
            return {
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
                        "points": self.points[n],
                    }
                    for n in self.points
                ],
            }

    def save(
        self, name: str, points: list, revision: int, done: bool | None, classes: list[str] | None
    ) -> dict:
        if name not in self.points:
            raise BadInput(f"{name}: not an image of this folder")
        w, h = self.sizes[name]
        clean = []
        for p in points:
            if not (isinstance(p, list) and len(p) == 3):
                raise BadInput(f"{name}: a point must be [x, y, label]")
            x, y, lab = float(p[0]), float(p[1]), str(p[2]).strip()
            if not lab or not (0 <= x <= w and 0 <= y <= h):
                raise BadInput(f"{name}: point ({x:g}, {y:g}, {lab!r}) is outside or unlabelled")
            clean.append([round(x, 2), round(y, 2), lab])
        with self.lock:
            if revision != self.revision[name]:
                return {
                    "ok": False,
                    "conflict": True,
                    "revision": self.revision[name],
                    "points": self.points[name],
                }
            self.points[name] = clean
            self.revision[name] += 1
            self.predicted.discard(name)
            if done is not None:
                (self.done.add if done else self.done.discard)(name)
            for c in classes or []:
                if c and c not in self.classes:
                    self.classes.append(c)
            self._write()
            return {"ok": True, "revision": self.revision[name]}

    def _write(self) -> None:
        """points.csv for every image, rewritten whole and atomically; other tools' rows for
        images we do not show are kept."""
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(HEADER)
        for name, pts in self.points.items():
            if name in self.predicted:
                continue  # unconfirmed predictions are not annotations
            w.writerows([name, f"{x:.2f}", f"{y:.2f}", c] for x, y, c in pts)
        write_atomic(self.root / "points.csv", buf.getvalue().encode())
        st = {"done": sorted(self.done), "classes": self.classes}
        write_atomic(self.root / STATE_FILE, json.dumps(st).encode())


def make_handler(store: AnnotationStore) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, fmt: str, *args: object) -> None:
            pass

        def _send(self, code: int, body: bytes, ctype: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def _json(self, code: int, obj: object) -> None:
            self._send(code, json.dumps(obj).encode(), "application/json")

        def do_GET(self) -> None:  # noqa: N802
            path = urllib.parse.urlparse(self.path).path
            if path == "/api/state":
                return self._json(200, store.state())
            if path.startswith("/images/"):
                name = urllib.parse.unquote(path[len("/images/") :])
                if name not in store.points:
                    return self._send(404, b"no such image", "text/plain")
                f = store.root / "images" / name
                ctype = mimetypes.guess_type(name)[0] or "application/octet-stream"
                return self._send(200, f.read_bytes(), ctype)
            name = "index.html" if path == "/" else path.lstrip("/")
            f = STATIC / name
            if "/" in name or not f.is_file():
                return self._send(404, b"not found", "text/plain")
            ctype = mimetypes.guess_type(name)[0] or "text/plain"
            return self._send(200, f.read_bytes(), ctype + "; charset=utf-8")

        def do_POST(self) -> None:  # noqa: N802
            if urllib.parse.urlparse(self.path).path != "/api/points":
                return self._send(404, b"not found", "text/plain")
            n = int(self.headers.get("Content-Length") or 0)
            if n > MAX_BODY:
                return self._json(413, {"ok": False, "error": "too large"})
            try:
                body = json.loads(self.rfile.read(n))
                res = store.save(
                    body["image"],
                    body["points"],
                    int(body["revision"]),
                    body.get("done"),
                    body.get("classes"),
                )
            except (ValueError, KeyError, TypeError) as e:
                return self._json(400, {"ok": False, "error": f"bad request: {e}"})
            except BadInput as e:
                return self._json(400, {"ok": False, "error": str(e)})
            return self._json(409 if res.get("conflict") else 200, res)

    return Handler


def serve(
    folder: str | Path, model: str | None = None, port: int = 0, ready=None
) -> ThreadingHTTPServer:  # noqa: ANN001
    tf = read_folder(folder, all_images=True)
    predict = None
    if model:
        from device.counter import Counter
        from device.imageio import read_rgb

        counter = Counter.from_file(model)

        def predict(path: Path) -> list:
            return counter.count(read_rgb(path)).points

        predict.classes = counter.info.classes  # type: ignore[attr-defined]
    store = AnnotationStore(tf, predict)
    server = ThreadingHTTPServer(("127.0.0.1", port), make_handler(store))
    server.daemon_threads = True
    if ready:
        ready(server)
    return server
