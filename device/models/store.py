"""The model store on the bench: checked install, an atomic active pointer, rollback.

Layout of the store folder:
  models/<sha256>.onnx   every model as received (sha256 of the file's bytes)
  models/<sha256>.json   name, classes, size, install time, training-image MAE,
                          GMAC per 1280x960 frame and its Pi 4 estimate
  models/<sha256>.sig    the signature it was installed with (signed-only stores)
  state.json             {"active": sha256, "previous": [...], "left": [...], "seen": [...]},
                         replaced atomically
  .lock                  every change happens under an flock on it (device/models/store_lock.py)

`previous` is the rollback path (newest first), `left` the models rolled back from (kept, not on
the rollback path: `model activate` brings one back), `seen` every model ever installed here
(a signed-only store refuses to have one of those re-sent; see models/README.md).

Only `install` prunes: it keeps the active model, the newest `keep` previous ones (at least one:
the model `rollback` goes to is never pruned) and the newest `keep` left ones, and says what it
removed. `activate` and `rollback` never delete anything.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

from device.core.durable import fsync_dir, makedirs_durable, replace_file
from device.core.errors import BadInput, ModelError
from device.core.text import printable, printable_path
from device.core.untrusted_file import read_regular
from device.measuring.modelfile import not_learnt_sentence, sha256_bytes
from device.models.checks import Limits, check_model
from device.models.store_lock import store_lock
from device.models.store_records import (
    FIGURE_KEYS,
    figures_of,
    installed_at,
    read_record,
)
from device.models.store_results import (
    ActiveModel,
    InstallRecord,
    InstallResult,
    ListedModel,
    Pruned,
    StoreListing,
)

MAX_STATE_BYTES = 4 * 1024 * 1024  # sha256 lists: tens of thousands of installs
_SHA = re.compile(r"[0-9a-f]{64}")


@dataclass
class State:
    active: str | None = None
    previous: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)
    seen: list[str] = field(default_factory=list)

    def kept(self) -> set[str]:
        return {s for s in [self.active, *self.previous, *self.left] if s}

    def make_active(self, sha: str) -> bool:
        """`sha` becomes active and the model it replaces the rollback target; False when it
        already was active (nothing changed)."""
        if self.active == sha:
            return False
        self.previous = [s for s in [self.active, *self.previous] if s and s != sha]
        self.left = [s for s in self.left if s != sha]
        self.active = sha
        return True


class ModelStore:
    def __init__(self, root: str | Path, limits: Limits | None = None) -> None:
        self.root = Path(root)
        self.models = self.root / "models"
        self.state_path = self.root / "state.json"
        self.limits = limits or Limits()
        # for messages: a path typed by a person may hold anything, a terminal escape too
        self.shown = printable_path(self.root)
        self.shown_state = printable_path(self.state_path)

    # -- state ------------------------------------------------------------------------------
    def read_state(self) -> State:
        try:
            # bounded, a regular file, never through a link: a FIFO here hung `model list`
            raw = json.loads(read_regular(self.state_path, MAX_STATE_BYTES))
        except FileNotFoundError:
            return State()
        except (OSError, ValueError, RecursionError) as e:
            why = printable(str(e), 200)
            raise BadInput(f"{self.shown_state}: unreadable store state ({why})") from None
        if not isinstance(raw, dict):
            raise BadInput(f"{self.shown_state}: unreadable store state (not an object)")

        def shas(key: str) -> list[str]:
            val = raw.get(key) or []
            # Names in state.json become paths: only sha256 hex, never anything else.
            if not isinstance(val, list) or not all(
                isinstance(s, str) and _SHA.fullmatch(s) for s in val
            ):
                raise BadInput(f"{self.shown_state}: {key} must be a list of sha256 values")
            return list(val)

        active = raw.get("active")
        if active is not None and not (isinstance(active, str) and _SHA.fullmatch(active)):
            raise BadInput(f"{self.shown_state}: active must be a sha256")
        # A state written before `seen` existed: what it names was installed here.
        seen = shas("seen") if "seen" in raw else [s for s in [active, *shas("previous")] if s]
        return State(active, shas("previous"), shas("left"), seen)

    def state(self) -> dict:
        st = self.read_state()
        return {"active": st.active, "previous": st.previous}

    def _write_state(self, st: State) -> None:
        replace_file(self.state_path, (json.dumps(asdict(st)) + "\n").encode())

    def active_sha(self) -> str | None:
        return self.read_state().active

    def active_path(self) -> Path | None:
        sha = self.active_sha()
        return self.path_of(sha) if sha else None

    def path_of(self, sha: str) -> Path:
        return self.models / f"{sha}.onnx"

    def _model_bytes(self, sha: str) -> bytes:
        """A stored model file: a regular file (never followed through a link, never a FIFO),
        within the size limit, and holding the bytes its name says (OSError or ValueError)."""
        if not _SHA.fullmatch(sha):
            raise ValueError(f"{sha[:80]!r} is not a sha256")
        path = self.path_of(sha)
        data = read_regular(path, self.limits.max_bytes)
        if sha256_bytes(data) != sha:
            raise ValueError(
                f"{printable_path(path)}: damaged (its sha256 is not the one it was installed with)"
            )
        return data

    def _with_figures(self, info: dict, sha: str) -> dict:
        """A record written before install kept the training figures: read them from the model
        file itself (its metadata only, nothing runs), so an older store still shows NOT LEARNT."""
        if "learnt" in info:
            return info
        try:
            return {**info, **figures_of(self._model_bytes(sha), str(self.path_of(sha)))}
        except (OSError, ValueError, ModelError):
            return info

    def _info(self, sha: str) -> dict:
        """The install record of a model (its name, classes, figures); the sha is the one asked
        for, whatever a damaged record says."""
        info = read_record(self.models / f"{sha}.json")
        if info is None:
            info = {"name": "?", "classes": []}
        return {**info, "sha256": sha}

    # -- changes ----------------------------------------------------------------------------
    def install(
        self,
        data: bytes,
        where: str = "model",
        signature: str | None = None,
        trusted: list | None = None,
        reinstall: bool = False,
        force: bool = False,
    ) -> InstallResult:
        """Check, store and activate a model; the result says what install pruned. A model that
        `train` marked as not learnt is refused unless `force`."""
        sha = sha256_bytes(data)
        if trusted and not reinstall:
            self._refuse_resent(sha, where)  # cheap: before the checks
        smoke = check_model(data, where, self.limits, signature, trusted)
        if smoke.get("learnt") is False and not force:
            said = not_learnt_sentence(smoke.get("task", "count"), smoke.get("train_mae"))
            raise BadInput(
                f"refused {where}: {said}: train it longer or on more annotated images (install "
                "it anyway with --force, to look at it)"
            )
        with store_lock(self.root):
            st = self.read_state()
            if trusted and not reinstall:
                self._refuse_resent(sha, where)  # again, now that nobody else changes it
            makedirs_durable(self.models)
            if _free(self.root) - len(data) < self.limits.min_free_bytes:
                raise BadInput(
                    f"refused {where}: less than {self.limits.min_free_bytes >> 20} MB free"
                )
            record = InstallRecord(
                sha256=sha,
                name=smoke["name"],
                classes=tuple(smoke["classes"]),
                size=len(data),
                # to the microsecond: `activate NAME` takes the newest of a name
                installed=datetime.now().astimezone().isoformat(timespec="microseconds"),
                signed=bool(trusted),
                **{k: smoke[k] for k in FIGURE_KEYS},
            )
            again, already = sha in st.seen, st.active == sha
            if not _holds(self.path_of(sha), sha):
                replace_file(self.path_of(sha), data)
            text = json.dumps(record.as_dict()) + "\n"
            replace_file(self.models / f"{sha}.json", text.encode())
            if trusted and signature:
                # Kept so that activate and rollback can check it again against the keys
                # trusted then (a key removed from trusted_keys withdraws what it signed).
                replace_file(self.models / f"{sha}.sig", (signature.strip() + "\n").encode())
            st.make_active(sha)
            if not again:
                st.seen.append(sha)
            pruned = self._prune(st)
        return InstallResult(record, again=again, already_active=already, pruned=pruned)

    def _refuse_resent(self, sha: str, where: str) -> None:
        st = self.read_state()
        if sha in st.seen and sha != st.active:
            name = self._info(sha).get("name", "?")
            kept = self.path_of(sha).exists()
            how = (
                f"to go back to it, run `scopecount model activate {sha[:12]}` on the bench"
                if kept
                else "it is no longer in the store; `model install --reinstall FILE` on the bench"
            )
            raise BadInput(
                f"refused {where}: model {name!r} ({sha[:12]}) was installed here before and "
                f"has been replaced; a signed-only store does not take it back by a push ({how})"
            )

    def _prune(self, st: State) -> tuple[Pruned, ...]:
        """Under the lock: trim the history, write state.json, then delete what it left out."""
        st.previous = st.previous[: max(1, self.limits.keep)]
        st.left = st.left[: self.limits.keep]
        self._write_state(st)  # before any delete: state.json never names a removed file
        keep = st.kept()
        pruned: list[Pruned] = []
        for p in sorted(self.models.glob("*.onnx")):
            if p.stem in keep:
                continue
            pruned.append(Pruned(p.stem, str(self._info(p.stem).get("name", "?")), str(p)))
            p.unlink(missing_ok=True)
            for ext in (".json", ".sig"):
                (self.models / f"{p.stem}{ext}").unlink(missing_ok=True)
        # Sidecars without a model, and temporary files of a killed writer (every writer holds
        # the lock, so none of these is being written now).
        for p in sorted([*self.models.glob("*.json"), *self.models.glob("*.sig")]):
            if p.stem not in keep and _SHA.fullmatch(p.stem):
                p.unlink(missing_ok=True)
        for p in sorted(self.models.glob(".*.tmp*")):
            pruned.append(Pruned("", "(unfinished write)", str(p)))
            p.unlink(missing_ok=True)
        fsync_dir(self.models)
        return tuple(pruned)

    def list(self) -> StoreListing:
        st = self.read_state()
        # `rollback` goes to the first of the earlier models; the others are older ones
        roles = {s: "previous" if i == 0 else "older" for i, s in enumerate(st.previous)}
        roles.update({s: "rolled back from" for s in st.left})
        if st.active:
            roles[st.active] = "active"
        models = []
        for meta in sorted(self.models.glob("*.json")):
            info = read_record(meta)
            # A record names its own model: only one whose name is a sha256 (never a path).
            sha = meta.stem
            if info is None or info.get("sha256") != sha or not _SHA.fullmatch(sha):
                continue
            record = self._with_figures(info, sha)
            models.append(ListedModel(sha, record, sha == st.active, roles.get(sha, "")))
        models.sort(key=lambda m: installed_at(m.record), reverse=True)
        return StoreListing(
            store=str(self.root),
            active_sha256=st.active,
            previous_sha256=st.previous[0] if st.previous else None,
            models=tuple(models),
        )

    def resolve(self, name_or_sha: str) -> str:
        models = self.list().models
        hits = [m for m in models if m.sha256 == name_or_sha]
        if not hits and len(name_or_sha) >= 6:
            hits = [m for m in models if m.sha256.startswith(name_or_sha)]
        if not hits:
            hits = [m for m in models if m.record.get("name") == name_or_sha][:1]
        if not hits:
            raise BadInput(
                f"{name_or_sha[:80]!r}: no such model in {self.shown} (see `model list`)"
            )
        if len(hits) > 1:
            raise BadInput(f"{name_or_sha}: matches {len(hits)} models, give more of the sha256")
        return hits[0].sha256

    def _stored_bytes(self, sha: str, trusted: list | None) -> bytes:
        """A stored model's bytes, checked against its name and, in a signed-only store,
        against its stored signature and the keys trusted now (before anything runs it)."""
        path = self.path_of(sha)
        try:
            data = self._model_bytes(sha)
        except OSError as e:
            raise BadInput(f"{printable_path(path)}: cannot read ({e.strerror})") from None
        except ValueError as e:
            raise BadInput(str(e)) from None
        if trusted:
            from device.models.signing import MAX_SIGNATURE_CHARS, verify

            sig_file = self.models / f"{sha}.sig"
            name = self._info(sha).get("name", "?")
            try:  # the one bounded, regular-file, no-link reader, as for every store file
                sig = read_regular(sig_file, MAX_SIGNATURE_CHARS + 1).decode("ascii", "replace")
            except FileNotFoundError:
                raise BadInput(
                    f"refused {name!r} ({sha[:12]}): installed without a signature, and this "
                    "store now takes signed models only"
                ) from None
            except (OSError, ValueError) as e:
                raise BadInput(f"refused {name!r} ({sha[:12]}): its signature file: {e}") from None
            verify(data, sig.strip(), trusted, f"{name!r} ({sha[:12]})")
        return data

    def activate(self, name_or_sha: str, trusted: list | None = None) -> ActiveModel:
        """Make a stored model active again; the one it replaces becomes the rollback target."""
        sha = self.resolve(name_or_sha)
        path = self.path_of(sha)
        data = self._stored_bytes(sha, trusted)
        checked = check_model(data, str(path), self.limits)
        with store_lock(self.root):
            st = self.read_state()
            if not path.exists():
                raise BadInput(f"{printable_path(path)}: removed meanwhile by another install")
            if st.make_active(sha):
                self._write_state(st)
        figures = {k: checked[k] for k in FIGURE_KEYS}
        return ActiveModel.of(sha, {**self._info(sha), **figures})

    def rollback(self, trusted: list | None = None) -> ActiveModel:
        """The previous model becomes active; the one left stays in the store (see `left`)."""
        if not self.state_path.exists():  # nothing to lock (and no folder to create)
            raise BadInput(f"{self.shown}: no previous model to roll back to")
        with store_lock(self.root):
            st = self.read_state()
            if not st.previous:
                raise BadInput(f"{self.shown}: no previous model to roll back to")
            sha = st.previous[0]
            if not self.path_of(sha).exists():
                shown = printable_path(self.path_of(sha))
                raise BadInput(f"{shown}: the previous model's file is missing")
            data = self._stored_bytes(sha, trusted)
            # Rolling back twice goes further back; the model left can come back by `activate`.
            st.left = [s for s in [st.active, *st.left] if s and s != sha]
            st.previous = st.previous[1:]
            st.active = sha
            self._write_state(st)
            left = st.left[0] if st.left else None
        try:
            figures = figures_of(data, str(self.path_of(sha)))
        except ModelError:  # it was checked at install; the warning is advice only
            figures = {}
        return ActiveModel.of(sha, {**self._info(sha), **figures}, left)


def _holds(path: Path, sha: str) -> bool:
    try:
        return sha256_bytes(path.read_bytes()) == sha
    except OSError:
        return False


def _free(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize
