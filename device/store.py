"""The model store on the bench: checked install, an atomic active pointer, rollback.

Layout of the store folder:
  models/<sha256>.onnx   every model as received (sha256 of the file's bytes)
  models/<sha256>.json   name, classes, size, install time
  state.json             {"active": sha256, "previous": [sha256, ...]}, replaced atomically
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from device.bench import BenchEvent
from device.counter import Counter
from device.durable import fsync_dir, makedirs_durable
from device.errors import BadInput, ModelError
from device.imageio import write_atomic
from device.modelfile import sha256_bytes

MAX_BYTES = 32 * 1024 * 1024
SMOKE_BUDGET_S = 10.0


@dataclass(frozen=True)
class Limits:
    max_bytes: int = MAX_BYTES
    smoke_budget_s: float = SMOKE_BUDGET_S
    keep: int = 3  # previous models kept for rollback
    min_free_bytes: int = 64 * 1024 * 1024


def check_model(data: bytes, where: str, limits: Limits) -> Counter:
    """Every check before anything changes; BadInput says why in one line."""
    if not data:
        raise BadInput(f"refused {where}: empty file")
    if len(data) > limits.max_bytes:
        raise BadInput(
            f"refused {where}: {len(data)} bytes is over the {limits.max_bytes} byte limit"
        )
    try:
        counter = Counter(data, where, threads=1)
    except ModelError as e:
        raise BadInput(f"refused: {e}") from None
    # A smoke inference on a generated camera-sized frame, within a time budget.
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)
    t = time.perf_counter()
    try:
        res = counter.count(frame)
    except Exception as e:
        raise BadInput(f"refused {where}: smoke inference failed ({str(e)[:120]})") from None
    took = time.perf_counter() - t
    if took > limits.smoke_budget_s:
        raise BadInput(
            f"refused {where}: smoke inference took {took:.1f} s (budget {limits.smoke_budget_s} s)"
        )
    if not all(np.isfinite(v) for v in res.sums.values()):
        raise BadInput(f"refused {where}: smoke inference gave non-finite counts")
    return counter


class ModelStore:
    def __init__(self, root: str | Path, limits: Limits | None = None) -> None:
        self.root = Path(root)
        self.models = self.root / "models"
        self.state_path = self.root / "state.json"
        self.limits = limits or Limits()

    # -- state ------------------------------------------------------------------------------
    def state(self) -> dict:
        try:
            st = json.loads(self.state_path.read_text())
        except FileNotFoundError:
            return {"active": None, "previous": []}
        except (OSError, ValueError) as e:
            raise BadInput(f"{self.state_path}: unreadable store state ({e})") from None
        return {"active": st.get("active"), "previous": list(st.get("previous", []))}

    def _write_state(self, st: dict) -> None:
        write_atomic(self.state_path, (json.dumps(st) + "\n").encode())

    def active_sha(self) -> str | None:
        return self.state()["active"]

    def active_path(self) -> Path | None:
        sha = self.active_sha()
        return self.models / f"{sha}.onnx" if sha else None

    def path_of(self, sha: str) -> Path:
        return self.models / f"{sha}.onnx"

    # -- changes ----------------------------------------------------------------------------
    def install(
        self,
        data: bytes,
        where: str = "model",
        signature: str | None = None,
        trusted: list | None = None,
    ) -> dict:
        counter = check_model(data, where, self.limits)
        if trusted:
            from device.signing import verify

            verify(data, signature, trusted)
        makedirs_durable(self.models)
        if _free(self.root) - len(data) < self.limits.min_free_bytes:
            raise BadInput(f"refused {where}: less than {self.limits.min_free_bytes >> 20} MB free")
        sha = sha256_bytes(data)
        info = {
            "sha256": sha,
            "name": counter.name,
            "classes": counter.info.classes,
            "size": len(data),
            "installed": datetime.now().astimezone().isoformat(timespec="seconds"),
            "signed": bool(trusted),
        }
        if not self.path_of(sha).exists():
            write_atomic(self.path_of(sha), data)
        write_atomic(self.models / f"{sha}.json", (json.dumps(info) + "\n").encode())
        self._activate(sha)
        return info

    def _activate(self, sha: str) -> None:
        st = self.state()
        if st["active"] == sha:
            return
        prev = [s for s in [st["active"], *st["previous"]] if s and s != sha]
        self._write_state({"active": sha, "previous": prev[: self.limits.keep]})
        self._prune()

    def _prune(self) -> None:
        st = self.state()
        keep = {st["active"], *st["previous"]}
        for p in self.models.glob("*.onnx"):
            if p.stem not in keep:
                p.unlink(missing_ok=True)
                (self.models / f"{p.stem}.json").unlink(missing_ok=True)
        fsync_dir(self.models)

    def list(self) -> dict:
        st = self.state()
        models = []
        for meta in sorted(self.models.glob("*.json")):
            try:
                info = json.loads(meta.read_text())
            except (OSError, ValueError):
                continue
            info["active"] = info.get("sha256") == st["active"]
            models.append(info)
        models.sort(key=lambda m: m.get("installed", ""), reverse=True)
        return {"store": str(self.root), "active_sha256": st["active"], "models": models}

    def resolve(self, name_or_sha: str) -> str:
        models = self.list()["models"]
        hits = [m for m in models if m["sha256"] == name_or_sha]
        if not hits and len(name_or_sha) >= 6:
            hits = [m for m in models if m["sha256"].startswith(name_or_sha)]
        if not hits:
            hits = [m for m in models if m["name"] == name_or_sha][:1]
        if not hits:
            raise BadInput(f"{name_or_sha}: no such model in {self.root} (see `model list`)")
        if len(hits) > 1:
            raise BadInput(f"{name_or_sha}: matches {len(hits)} models, give more of the sha256")
        return hits[0]["sha256"]

    def activate(self, name_or_sha: str) -> dict:
        sha = self.resolve(name_or_sha)
        check_model(self.path_of(sha).read_bytes(), str(self.path_of(sha)), self.limits)
        self._activate(sha)
        return json.loads((self.models / f"{sha}.json").read_text())

    def rollback(self) -> dict:
        st = self.state()
        if not st["previous"]:
            raise BadInput(f"{self.root}: no previous model to roll back to")
        sha, rest = st["previous"][0], st["previous"][1:]
        # The failed model is dropped from the history: rolling back twice goes further back.
        self._write_state({"active": sha, "previous": rest})
        self._prune()
        return json.loads((self.models / f"{sha}.json").read_text())


def _free(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


class WatchedModel:
    """The store's active model for a running bench: hot swap within a poll, rollback on failure."""

    def __init__(self, store: ModelStore, threads: int = 0) -> None:
        self.store = store
        self.threads = threads
        self.sha = store.active_sha()
        path = store.active_path()
        if path is None:
            raise BadInput(f"{store.root}: no active model")
        self.counter = Counter.from_file(path, threads)

    def current(self) -> Counter:
        return self.counter

    def poll(self) -> BenchEvent | None:
        try:
            sha = self.store.active_sha()
        except BadInput:
            return None
        if not sha or sha == self.sha:
            return None
        old = self.counter
        try:
            new = Counter.from_file(self.store.path_of(sha), self.threads)
        except (ModelError, OSError) as e:
            return self._roll_back(f"new model {sha[:12]} does not load ({e})", old)
        self.counter, self.sha = new, sha
        return BenchEvent(
            "model",
            {
                "name": new.name,
                "sha256": sha,
                "classes": new.info.classes,
                "previous": old.name,
                "message": f"new model active: {new.name} (was {old.name})",
            },
        )

    def failed(self, error: Exception) -> BenchEvent | None:
        return self._roll_back(
            f"model {self.counter.name} failed while counting ({error})", self.counter
        )

    def _roll_back(self, why: str, keep: Counter) -> BenchEvent:
        try:
            info = self.store.rollback()
            self.counter = Counter.from_file(self.store.path_of(info["sha256"]), self.threads)
            self.sha = info["sha256"]
        except (BadInput, ModelError, OSError):
            self.counter = keep
            self.sha = self.store.active_sha()
        return BenchEvent(
            "model",
            {
                "name": self.counter.name,
                "sha256": self.counter.sha256,
                "classes": self.counter.info.classes,
                "error": why,
                "message": f"{why}; rolled back to {self.counter.name}",
            },
        )
