"""`make pi-crash`: power cuts as the flash sees them, on the emulated Trixie Pi.

The bench as installed makes records of every kind of write it does (crash_run.py), each disk
behind dm-log-writes. Then, here, for every flush or FUA point of each log, in-order prefixes
and seeded subsets of the writes between flushes (logwrites.py), the device is rebuilt as a cut
there would leave it, repaired and checked as the next boot would (crash_check.py). A row per
file system and device, a table, and last `pi-crash: N passed, N failed`.

    python -m tests.pi.picrash [--subsets N] [--prefixes N] [--seed N] [--reuse [--only DEV]]

A "crash point" is one state checked: a flush, a prefix, a subset or the log's end. Columns:
lost (an acknowledged record or void missing), duplicated (a record there twice), torn (fsck
could not repair, a line unreadable after the start-up clean-up, a record without its image,
counts.csv disagreeing with records.jsonl), stores broken (the SD card's model store).
--reuse checks the logs of the last finished run again without booting (same --seed: same
states); with --only, one device (sd needs the sticks' results: check it with them).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
import traceback
from pathlib import Path

from tests.pi.crash_check import Expect, Verdict, check_state
from tests.pi.crash_run import DEVICES, CrashRun
from tests.pi.logwrites import CrashState, Log, Replayer, read_log

FS = {"vfat": "vfat", "exfat": "exfat", "ext4": "ext4", "sd": "ext4"}
WHAT = {"vfat": "stick", "exfat": "stick", "ext4": "stick", "sd": "SD card (spool, model store)"}


def _key(ev: dict) -> tuple[str, str]:
    return (str(ev["time"]), str(ev["sample"]))


def expectation(name: str, log: Log, state: CrashState, marks: dict[int, dict],
                elsewhere: frozenset[tuple[str, str]]) -> Expect:  # fmt: skip
    """What the state must hold, from the marks before it."""
    events: list[dict] = []
    model = ""
    for text in state.acknowledged(log):
        kind, _, arg = text.partition(":")
        if kind == "ack" and arg.isdigit() and int(arg) in marks:
            events.append(marks[int(arg)]["event"])
        elif kind == "model":
            model = arg
    recorded = [e for e in events if e.get("event") == "recorded"]
    by_id = {e["id"]: e for m in marks.values() if (e := m["event"]).get("event") == "recorded"}
    if name == "sd":
        keys = [_key(e) for e in recorded if e.get("stored") == "spool"]
        return Expect(records=tuple(keys), model=model, elsewhere=elsewhere)
    keys = [_key(e) for e in recorded if e.get("stored") == "stick"]
    # The flush moves the spool in order, a slice at a time, and says how many each slice
    # moved: that many of the spooled records, first first, must be on the stick.
    spooled = [_key(e) for e in recorded if e.get("stored") == "spool"]
    moved = sum(int(e.get("records", 0)) for e in events if e.get("event") == "flushed")
    keys += spooled[:moved]
    voided = [e["id"] for e in events if e.get("event") == "voided"]
    voids = [_key(by_id[i]) for i in voided if i in by_id]
    return Expect(records=tuple(dict.fromkeys(keys)), voids=tuple(voids))


class Tally:
    def __init__(self) -> None:
        self.points = 0
        self.lost = self.duplicated = self.torn = self.broken = self.repaired = 0
        self.first_failure = ""

    def add(self, state: CrashState, v: Verdict) -> None:
        self.points += 1
        self.lost += len(v.lost)
        self.duplicated += len(v.duplicated)
        self.torn += len(v.torn)
        self.broken += len(v.store_broken)
        self.repaired += v.repaired
        if not v.ok and not self.first_failure:
            self.first_failure = f"{state.name}: {v.why()}"

    @property
    def ok(self) -> bool:
        return self.points > 0 and not (self.lost or self.duplicated or self.torn or self.broken)


def check_device(
    run: Path,
    name: str,
    marks: dict[int, dict],
    args: argparse.Namespace,
    elsewhere: frozenset[tuple[str, str]] = frozenset(),
) -> tuple[Tally, set]:
    """Every crash state of one device's log; and the records its last state holds."""
    from tests.pi.logwrites import crash_states

    log = read_log(run / f"log-{name}.img")
    work = run / f"check-{name}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    states = list(crash_states(log, args.seed, args.subsets, args.prefixes))
    tally, t0 = Tally(), time.monotonic()
    role = "sd" if name == "sd" else "stick"
    final: set = set()
    replayer = Replayer(log, run / f"base-{name}.img", work)
    for i, state in enumerate(states, 1):
        image = work / "state.img"
        replayer.build(state, image)
        expect = expectation(name, log, state, marks, elsewhere)
        verdict = check_state(FS[name], role, image, expect, work)
        tally.add(state, verdict)
        if state is states[-1]:
            final = _present(work)
        if i % 100 == 0 or i == len(states):
            rate = i / max(time.monotonic() - t0, 1e-6)
            print(f"pi-crash: {name}: {i}/{len(states)} states ({rate:.1f}/s)", flush=True)
    shutil.rmtree(work, ignore_errors=True)
    return tally, final


def _present(work: Path) -> set[tuple[str, str]]:
    keys = set()
    for path in (work / "tree").glob("scopecount/*/records.jsonl"):
        for line in path.read_text(errors="replace").splitlines():
            try:
                keys.add(_key(json.loads(line)))
            except (ValueError, KeyError):
                continue
    return keys


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(
        prog="pi-crash",
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 2)[2],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--seed", type=int, default=7, help="picks prefixes and subsets (7)")
    ap.add_argument("--subsets", type=int, default=3, help="seeded subsets per epoch (3)")
    ap.add_argument("--prefixes", type=int, default=1, help="in-order prefixes per epoch (1)")
    ap.add_argument("--reuse", action="store_true", help="check the last run's logs again")
    ap.add_argument("--only", choices=DEVICES, help="with --reuse: check one device's log")
    args = ap.parse_args(argv)
    if args.only and not args.reuse:
        ap.error("--only goes with --reuse (a run makes every device's log)")
    run = CrashRun("trixie")
    rows: list[tuple[str, str, str]] = []
    t0 = time.monotonic()
    marks_file = run.run / "marks.jsonl"
    if args.reuse:
        logs = [run.log_path(d) for d in DEVICES]
        if not marks_file.exists() or any(
            not p.exists() or p.stat().st_mtime > marks_file.stat().st_mtime for p in logs
        ):
            print(f"pi-crash: no finished run in {run.run} (one is going, or the last one "
                  "stopped before it closed its logs)")  # fmt: skip
            return 2
    else:
        marks_file.unlink(missing_ok=True)
        steps = [
            ("boot with 4 disks behind dm-log-writes", run.boot_logged),
            ("install.sh as on a Pi", run.install),
            ("bench started", _start(run)),
        ]
        steps += [(f"workload: {fs} stick", lambda fs=fs: run.stick_phase(fs))
                  for fs in ("vfat", "exfat", "ext4")]  # fmt: skip
        steps += [("workload: model install", run.model_install)]
        try:
            for name, fn in steps:
                if not run.row(name, fn):
                    return _finish(run.rows, [], t0, len(DEVICES))
            marks, gap = run.close_logs()
            marks_file.write_text("".join(json.dumps(m) + "\n" for m in marks))
            run.figures["ack to mark"] = gap
        finally:
            run.vm.kill9()
    marks = {m["n"]: m for m in map(json.loads, marks_file.read_text().splitlines())}
    finals: set = set()
    for name in [args.only] if args.only else DEVICES:  # sticks first: sd's "flushed on"
        label = f"trixie dm-log-writes {FS[name]} {WHAT[name]}"
        try:
            tally, final = check_device(run.run, name, marks, args, frozenset(finals))
        except Exception as e:  # noqa: BLE001 - a row that could not run is a failed row
            traceback.print_exc()
            rows.append((label, "FAIL", f"{type(e).__name__}: {e}"[:200]))
            continue
        finals |= final
        verdict = "pass" if tally.ok else "FAIL"
        print(f"pi-crash: {label}: {tally.points} crash points, {tally.lost} lost: {verdict}",
              flush=True)  # fmt: skip
        rows.append((label, verdict, _row_note(tally)))
    for k, v in run.figures.items():
        print(f"  {k}: {v}")
    return _finish(run.rows, rows, t0, 1 if args.only else len(DEVICES))


def _start(run: CrashRun):  # noqa: ANN202
    def start() -> str:
        run.start_bench()
        return "the installed unit, its config on the logged SD card"

    return start


def _row_note(t: Tally) -> str:
    note = (f"{t.points} | {t.lost} | {t.duplicated} | {t.torn} | {t.broken} | "
            f"{t.repaired} repaired by fsck")  # fmt: skip
    return note + (f"; first: {t.first_failure}" if t.first_failure else "")


def _finish(steps: list, rows: list, t0: float, expected: int) -> int:
    if steps:
        print("\n| step | result | notes |\n|---|---|---|")
    for name, res, note in steps:
        print(f"| {name} | {res} | {note} |")
    print("\n| device | result | crash points | lost | duplicated | torn | stores broken | notes |")
    print("|---|---|---|---|---|---|---|---|")
    for label, res, note in rows:
        cells = note.split(" | ")
        cells = cells if len(cells) == 6 else ["", "", "", "", "", note]
        print(f"| {label} | {res} | {' | '.join(cells)} |")
    failed = sum(r[1] != "pass" for r in rows) + sum(r[1] == "FAIL" for r in steps)
    passed = sum(r[1] == "pass" for r in rows)
    print(f"\npi-crash: {(time.monotonic() - t0) / 60:.0f} min")
    print(f"pi-crash: {passed} passed, {failed} failed")
    return 0 if failed == 0 and passed == expected else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
