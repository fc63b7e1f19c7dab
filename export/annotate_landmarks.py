"""The annotation page's landmark mode: one configuration per image in landmarks.csv
(`image,landmark,x,y`), saved under the guards every mode has (export/annotate_guard.py: token,
Host, Origin, size) and the folder's lock, with a revision per image: a save from an old view is
refused (409) with what is on disk, so the page reloads instead of overwriting it. Rows of
images the page does not show are kept as they are.
"""

from __future__ import annotations

import csv
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from device.core.csvsafe import csv_line, restore
from device.core.errors import BadInput
from device.core.imageio import read_rgb, write_atomic
from device.core.text import printable, printable_path
from export import pointsfile
from export.annotate_guard import Refused, check_body, check_done, check_revision, number
from export.annotate_maskfiles import check_image, read_no_follow
from export.folder import STATE_FILE, TrainingFolder
from export.landmarks_folder import HEADER, LANDMARKS_CSV, MAX_LANDMARKS

if TYPE_CHECKING:  # onnxruntime loads only where a model is given
    from device.measuring.detector import Detector

Config = list[list[float] | None]
MAX_CSV_BYTES = 16 * 1024 * 1024  # 200 landmarks of thousands of images fit well within


@dataclass(frozen=True)
class LandmarkSave:
    image: str
    landmarks: Config
    revision: int
    done: bool | None


def parse_landmark_save(body: object, n: int) -> LandmarkSave:
    """The body of POST /api/landmarks, every field checked; Refused(400) names the fault."""
    body = check_body(body, {"image", "landmarks", "revision", "done"})
    image = check_image(body.get("image"))
    rev = check_revision(body.get("revision"))
    done = check_done(body.get("done"))
    lms = body.get("landmarks")
    if not isinstance(lms, list) or len(lms) != n:
        raise Refused(400, f"landmarks must be a list of {n} entries ([x, y] or null)")
    out: Config = []
    for k, p in enumerate(lms, start=1):
        if p is None:
            out.append(None)
            continue
        if not (isinstance(p, list) and len(p) == 2):
            raise Refused(400, f"landmark {k} must be [x, y] of finite numbers or null")
        x, y = (number(v, f"landmark {k}") for v in p)
        out.append([round(x, 2), round(y, 2)])
    return LandmarkSave(image, out, rev, done)


def read_landmark_rows(path: Path) -> list[list[str]]:
    """The data rows of landmarks.csv as strings ([] when there is none); BadInput on a file
    that is not one (the page would otherwise overwrite what it cannot read)."""
    where = printable_path(path)
    if not os.path.lexists(path):
        return []
    if not path.is_file():  # a FIFO would hang the page's every request; a folder, a link
        raise BadInput(f"{where}: not a regular file")
    if path.stat().st_size > MAX_CSV_BYTES:
        raise BadInput(f"{where}: over {MAX_CSV_BYTES // 2**20} MiB")
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise BadInput(f"{where}: unreadable ({printable(str(e))})") from None
    if rows and [c.strip().lower() for c in rows[0]] != HEADER:
        got = printable(",".join(rows[0]), 60)
        raise BadInput(f"{where}: header is {got!r}, expected 'image,landmark,x,y'")
    return [[c.strip() for c in r] for r in rows[1:] if any(c.strip() for c in r)]


def configs(rows: list[list[str]], sizes: dict[str, tuple[int, int]], n: int) -> dict[str, Config]:
    """Each shown image's configuration from the rows; BadInput on a row that cannot be one."""
    out: dict[str, Config] = {name: [None] * n for name in sizes}
    for i, r in enumerate(rows, start=2):
        at = f"{LANDMARKS_CSV}: row {i}"
        if len(r) != 4:
            raise BadInput(f"{at} has {len(r)} fields, expected 4")
        image = restore(r[0])
        if image not in out:
            continue  # an image the page does not show: its rows stay as they are
        try:
            k, x, y = int(r[1]), float(r[2]), float(r[3])
        except ValueError:
            raise BadInput(f"{at} cannot be read; fix the file") from None
        w, h = sizes[image]
        if not 1 <= k <= n:
            raise BadInput(f"{at}: landmark {k}, but the page places {n}")
        if not (0 <= x < w and 0 <= y < h):  # NaN fails too
            raise BadInput(
                f"{at}: {printable(image)} landmark {k} at ({x:g}, {y:g}) is outside the "
                f"{w}x{h} image"
            )
        if out[image][k - 1] is not None:
            raise BadInput(f"{at}: landmark {k} of {printable(image)!r} is placed twice")
        out[image][k - 1] = [round(x, 2), round(y, 2)]
    return out


class LandmarkStore:
    mode = "landmarks"

    def __init__(
        self,
        root: Path,
        sizes: dict[str, tuple[int, int]],
        names: list[str],
        predict=None,  # noqa: ANN001  (path -> Config), a landmarks model's, or None
    ) -> None:
        if not 1 <= len(names) <= MAX_LANDMARKS:
            raise BadInput(f"{len(names)} landmarks: 1 to {MAX_LANDMARKS}")
        self.root = root
        self.csv = root / LANDMARKS_CSV
        self.images_dir = (root / "images").resolve()
        self.lock = threading.Lock()
        self.sizes = sizes
        self.names = names
        self.points = configs(read_landmark_rows(self.csv), sizes, len(names))
        self.disk = {k: list(v) for k, v in self.points.items()}
        self.revision = dict.fromkeys(sizes, 0)
        # an image with every landmark placed (imported, or a bench's) counts as done
        whole = {k for k, v in self.points.items() if all(p is not None for p in v)}
        self.done = (self._read_done() | whole) & set(sizes)
        self.predicted: set[str] = set()
        if predict is not None:
            for name, cfg in self.points.items():
                if all(p is None for p in cfg) and name not in self.done:
                    self.points[name] = predict(root / "images" / name)
                    self.predicted.add(name)

    def _read_done(self) -> set[str]:
        try:
            st = json.loads((self.root / STATE_FILE).read_text())
        except (OSError, ValueError):
            return set()
        done = st.get("done") if isinstance(st, dict) else None
        return {d for d in done if isinstance(d, str)} if isinstance(done, list) else set()

    def _sync(self) -> list[list[str]]:
        """landmarks.csv as it is now; images changed on disk take its rows and a new revision.
        Call with self.lock held."""
        try:
            rows = read_landmark_rows(self.csv)
            now = configs(rows, self.sizes, len(self.names))
        except BadInput as e:  # changed on disk meanwhile: the page says so, nothing is saved
            raise Refused(409, str(e)) from None
        for name, cfg in now.items():
            if cfg != self.disk[name]:
                self.disk[name] = cfg
                self.points[name] = cfg
                self.revision[name] += 1
                self.predicted.discard(name)
        return rows

    def state(self) -> dict[str, Any]:
        with self.lock:
            self._sync()
            return {
                "mode": "landmarks",
                "folder": str(self.root),
                "classes": self.names,
                "images": [
                    {
                        "name": n,
                        "width": self.sizes[n][0],
                        "height": self.sizes[n][1],
                        "done": n in self.done,
                        "predicted": n in self.predicted,
                        "revision": self.revision[n],
                        "landmarks": self.points[n],
                    }
                    for n in self.points
                ],
            }

    def save(self, req: LandmarkSave) -> dict[str, Any]:
        name = req.image
        if name not in self.points:
            raise BadInput(f"{name}: not an image of this folder")
        w, h = self.sizes[name]
        for k, p in enumerate(req.landmarks, start=1):
            if p is not None and not (0 <= p[0] < w and 0 <= p[1] < h):
                raise BadInput(f"{name}: landmark {k} at ({p[0]:g}, {p[1]:g}) is outside {w}x{h}")
        with self.lock, pointsfile.locked(self.root):
            rows = self._sync()
            if req.revision != self.revision[name]:
                return {
                    "ok": False,
                    "conflict": True,
                    "revision": self.revision[name],
                    "landmarks": self.points[name],
                }
            mine = "".join(
                csv_line([name, k, p[0], p[1]])
                for k, p in enumerate(req.landmarks, start=1)
                if p is not None
            )
            # the image's rows where they were (appended when it had none), the rest as is
            body, placed = csv_line(HEADER), False
            for r in rows:
                if restore(r[0]) != name:
                    body += csv_line([restore(c) for c in r])
                elif not placed:
                    body, placed = body + mine, True
            body += "" if placed else mine
            write_atomic(self.csv, body.encode("utf-8"))
            self.points[name] = req.landmarks
            self.disk[name] = req.landmarks
            self.revision[name] += 1
            self.predicted.discard(name)
            if req.done is not None:
                (self.done.add if req.done else self.done.discard)(name)
                self._write_done()
            return {"ok": True, "revision": self.revision[name]}

    def _write_done(self) -> None:
        try:
            st = json.loads((self.root / STATE_FILE).read_text())
        except (OSError, ValueError):
            st = {}
        st = st if isinstance(st, dict) else {}
        theirs = set(self._read_done()) - set(self.sizes)
        st["done"] = sorted(theirs | self.done)
        write_atomic(self.root / STATE_FILE, json.dumps(st).encode())

    def image_bytes(self, name: str) -> bytes | None:
        """An image of the folder, only as a regular file inside images/."""
        if name not in self.points or (self.root / "images").resolve() != self.images_dir:
            return None
        return read_no_follow(self.images_dir, name)


def landmark_names(root: Path, model_names: list[str] | None, n: int | None) -> list[str]:
    """The landmarks the page places: landmarks-names.csv's, else the model's, else numbers up
    to --landmarks N or the highest in landmarks.csv. BadInput when they disagree or none say."""
    from export.landmarks_folder import NAMES_CSV, read_names

    if n is not None and not 1 <= n <= MAX_LANDMARKS:
        raise BadInput(f"--landmarks {n}: must be 1 to {MAX_LANDMARKS}")
    names = read_names(root / NAMES_CSV) if (root / NAMES_CSV).exists() else model_names
    where = printable_path(root)
    if names is not None and model_names is not None and len(names) != len(model_names):
        raise BadInput(
            f"{where}/{NAMES_CSV} names {len(names)} landmarks, the model places {len(model_names)}"
        )
    if names is None:
        rows = read_landmark_rows(root / LANDMARKS_CSV)
        try:
            most = max((int(r[1]) for r in rows if len(r) == 4), default=0)
        except ValueError:
            raise BadInput(f"{where}/{LANDMARKS_CSV}: a landmark number cannot be read") from None
        if not 0 <= most <= MAX_LANDMARKS:
            raise BadInput(f"{where}/{LANDMARKS_CSV}: landmark {most}: 1 to {MAX_LANDMARKS}")
        if n is None and most == 0:
            raise BadInput(
                f"{where}: how many landmarks? give --landmarks N (or a landmarks-names.csv)"
            )
        names = [str(k) for k in range(1, max(most, n or 0) + 1)]
    if n is not None and n != len(names):
        raise BadInput(f"--landmarks {n}: the folder or model has {len(names)} landmarks")
    return list(names)


def landmark_store(tf: TrainingFolder, det: Detector | None, n: int | None) -> LandmarkStore:
    """The store for a folder's images, pre-filled by a landmarks model where one is given."""
    if det is not None and det.task != "landmarks":
        raise BadInput(f"{det.where}: a {det.task} model; this is a landmarks folder")
    predict = None
    if det is not None:

        def predict(path: Path) -> list:
            res = det.measure(read_rgb(path))
            return [None if p is None else [round(p[0], 2), round(p[1], 2)] for p in res.landmarks]

    names = landmark_names(tf.root, det.info.classes if det is not None else None, n)
    sizes = {s.name: (s.width, s.height) for s in tf.samples}
    return LandmarkStore(tf.root, sizes, names, predict)
