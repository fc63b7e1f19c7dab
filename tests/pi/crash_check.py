"""One crash state of one device, checked here as the bench's next boot would meet it.

The state's image is repaired by the checker the bench's mount runs (systemd-fsck: fsck -a, so
`fsck.vfat -a`, `fsck.exfat -a`, `e2fsck -p`), its files are read out in user space (this
machine's kernel has no vfat, exfat or device-mapper: mtools, exfat_read.py, debugfs), the
bench's own start-up clean-up runs on them (Recorder.repair), and then: every record
acknowledged before the state is there exactly once with its image, counts.csv says what
records.jsonl says, every void acknowledged is listed, and the model store (on the SD card) is
whole: its state readable, the active model's bytes those its name says, loadable.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from device.records.dayfolder import SUBDIR, DayFolder
from device.records.recorder import Recorder
from tests.pi.exfat_read import copy_out

FSCK = {
    "vfat": ["fsck.vfat", "-a", "-w"],
    "exfat": ["fsck.exfat", "-a"],
    "ext4": ["e2fsck", "-p"],
}
# fsck's exit status: 0 clean, 1 repaired (2: ext4 asks for a reboot, repaired too).
FSCK_OK = {"vfat": {0, 1}, "exfat": {0, 1}, "ext4": {0, 1, 2}}


@dataclass
class Verdict:
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    torn: list[str] = field(default_factory=list)
    store_broken: list[str] = field(default_factory=list)
    repaired: bool = False  # fsck changed something

    @property
    def ok(self) -> bool:
        return not (self.lost or self.duplicated or self.torn or self.store_broken)

    def why(self) -> str:
        parts = [
            f"{k}: {', '.join(v[:3])}"
            for k, v in (
                ("lost", self.lost),
                ("duplicated", self.duplicated),
                ("torn", self.torn),
                ("store", self.store_broken),
            )
            if v
        ]
        return "; ".join(parts)


@dataclass(frozen=True)
class Expect:
    """What a state must hold: record keys (time, sample) and voided record ids acknowledged
    before it on this device, and for the SD card the model the store must have active."""

    records: tuple[tuple[str, str], ...] = ()
    voids: tuple[tuple[str, str], ...] = ()  # (time, sample) of records whose void was acked
    model: str = ""  # sha256 the store's active model must be, once its install was acked
    elsewhere: frozenset[tuple[str, str]] = frozenset()  # flushed on: not required here


def fsck(fs: str, image: Path) -> tuple[bool, bool, str]:
    """(usable, changed, output) after the repair the bench's mount does."""
    try:
        out = subprocess.run([*FSCK[fs], str(image)], capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        return False, True, f"{FSCK[fs][0]} did not finish in 10 minutes"
    text = (out.stdout + out.stderr).strip()
    return out.returncode in FSCK_OK[fs], out.returncode != 0, text


def extract(fs: str, image: Path, dest: Path, paths: Iterable[str]) -> None:
    """Copy the given top-level folders of the image's file system into dest (absent: none)."""
    dest.mkdir(parents=True, exist_ok=True)
    if fs == "vfat":
        for p in paths:
            subprocess.run(
                ["mcopy", "-s", "-n", "-m", "-i", str(image), f"::/{p}", str(dest)],
                capture_output=True,
            )
    elif fs == "ext4":
        for p in paths:
            subprocess.run(["debugfs", "-R", f"rdump /{p} {dest}", str(image)], capture_output=True)
    elif fs == "exfat":
        for p in paths:
            copy_out(image, p, dest)
    else:
        raise ValueError(f"no reader for {fs}")
    # The bench never makes links (and mounts sticks nosymfollow): the clean-up below runs as
    # root here and must not follow one that debugfs recreated out of the tree.
    for p in sorted(dest.rglob("*"), reverse=True):
        if p.is_symlink():
            p.unlink()


def _day_records(root: Path) -> list[tuple[DayFolder, list[str]]]:
    base = root / SUBDIR
    days = sorted(p for p in base.iterdir() if p.is_dir()) if base.is_dir() else []
    return [(DayFolder(d), DayFolder(d).lines()) for d in days if not d.name.startswith(".")]


def check_records(root: Path, expect: Expect, verdict: Verdict, where: str) -> set[tuple[str, str]]:
    """The records under root (a stick, or a spool laid out like one) against what was acked.
    Returns the keys present."""
    seen: dict[tuple[str, str], int] = {}
    voided_keys: set[tuple[str, str]] = set()
    for day, lines in _day_records(root):
        recs = []
        for n, line in enumerate(lines, 1):
            try:
                recs.append(json.loads(line))
            except ValueError:
                verdict.torn.append(f"{where} {day.day} records.jsonl line {n} unreadable")
        voided = day.voided_ids()
        counts_ids = _counts_ids(day)
        for r in recs:
            key = (str(r.get("time")), str(r.get("sample")))
            seen[key] = seen.get(key, 0) + 1
            img = day.path / str(r.get("image", ""))
            if not img.is_file() or img.stat().st_size == 0:
                verdict.torn.append(f"{where} record {key[0]} without its image")
            if r.get("id") in voided:
                voided_keys.add(key)
            want = {c: int(v) for c, v in (r.get("counts") or {}).items()}
            if counts_ids.get(r.get("id")) != want:
                verdict.torn.append(f"{where} counts.csv disagrees on {r.get('id')}")
        extra = set(counts_ids) - {r.get("id") for r in recs}
        if extra:
            verdict.torn.append(f"{where} counts.csv rows for {sorted(extra)[0]} not recorded")
    for key in expect.records:
        if key in expect.elsewhere and seen.get(key, 0) == 0:
            continue
        if seen.get(key, 0) == 0:
            verdict.lost.append(f"{where} {key[0]} {key[1]}")
    verdict.duplicated += [f"{where} {k[0]} x{n}" for k, n in seen.items() if n > 1]
    verdict.lost += [f"{where} void of {k[0]}" for k in expect.voids if k not in voided_keys]
    return set(seen)


def _counts_ids(day: DayFolder) -> dict[str, dict[str, int]]:
    import csv

    out: dict[str, dict[str, int]] = {}
    if not day.counts_path.exists():
        return out
    with open(day.counts_path, newline="", encoding="utf-8", errors="replace") as f:
        for row in csv.DictReader(f):
            try:
                out.setdefault(row["id"], {})[row["class"]] = int(row["count"])
            except (KeyError, TypeError, ValueError):
                continue
    return out


def check_store(models: Path, expect: Expect, verdict: Verdict) -> None:
    from device.models.store import ModelStore

    if not (models / "state.json").exists():
        if expect.model:
            verdict.store_broken.append("no state.json after an acknowledged install")
        return
    store = ModelStore(models)
    try:
        active = store.active_sha()
    except Exception as e:  # noqa: BLE001 - any failure to read is what is being measured
        verdict.store_broken.append(f"state unreadable: {e}")
        return
    if expect.model and active != expect.model:
        verdict.store_broken.append(f"active {str(active)[:12]}, acknowledged {expect.model[:12]}")
    if active is None:
        return
    path = store.path_of(active)
    if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != active:
        verdict.store_broken.append(f"active model {active[:12]} missing or not its bytes")
        return
    _loads(path, verdict)


_LOADED: set[str] = set()


def _loads(path: Path, verdict: Verdict) -> None:
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    if sha in _LOADED:
        return
    import onnxruntime as ort

    try:
        ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        _LOADED.add(sha)
    except Exception as e:  # noqa: BLE001
        verdict.store_broken.append(f"active model does not load: {str(e)[:80]}")


def check_state(fs: str, role: str, image: Path, expect: Expect, work: Path) -> Verdict:
    """role: "stick" (records under /scopecount) or "sd" (the state directory: spool, models)."""
    verdict = Verdict()
    usable, verdict.repaired, out = fsck(fs, image)
    if not usable:
        verdict.torn.append(f"fsck could not repair: {out.splitlines()[-1:]}")
        return verdict
    tree = work / "tree"
    shutil.rmtree(tree, ignore_errors=True)
    if role == "stick":
        extract(fs, image, tree, [SUBDIR])
        Recorder(tree, work / "nospool", removable=False, bench_id="check").repair()
        check_records(tree, expect, verdict, "stick")
    else:
        extract(fs, image, tree, ["spool", "models"])
        spool = tree / "spool"
        if spool.is_dir():
            Recorder(work / "nostick", spool, removable=False, bench_id="check").repair()
        check_records(spool, expect, verdict, "spool")
        check_store(tree / "models", expect, verdict)
    shutil.rmtree(work / "nospool", ignore_errors=True)
    return verdict
