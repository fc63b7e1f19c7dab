"""The bench's output, byte for byte: the events the headless bench prints and the day-folder
files, for one fixed session of presses, a sample id, a void and a camera fault, with a fixed
clock. The golden file was recorded before device/ was split into packages, and changed twice
since, on purpose: records of the demo model carry the flag `demo`; records and `recorded`
events say their task (`"task": "count"`), as `count --json` does, since a model may measure
areas instead. A change that alters it
changes what a lab's scripts and spreadsheets read, and must say so.

Regenerate (only for a deliberate change of format): SCOPECOUNT_GOLDEN_UPDATE=1 pytest this file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.support.benchfakes import make_rig

GOLDEN = Path(__file__).parent / "golden"
STABLE = ("ready", "recorded", "sample", "voided", "error")  # not the housekeeping polls
MASK = ("ms",)  # the only figures that depend on the machine


def session(tmp: Path) -> tuple[list[dict], dict[str, str]]:
    rig = make_rig(tmp, fixed_time=True)
    try:
        for n in range(1, 3):
            rig.bench.press("test")
            rig.events.wait("recorded", n=n, timeout=20)
        rig.bench.set_sample("vial-7")
        rig.bench.press("test")
        rig.events.wait("recorded", n=3, timeout=20)
        rig.bench.hold()
        rig.events.wait("voided", timeout=20)
        rig.camera.unplug()
        rig.bench.press("test")
        rig.events.wait("error", timeout=20)
        rig.camera.plug()
        rig.bench.press("test")
        rig.events.wait("recorded", n=4, timeout=20)
    finally:
        rig.close()
    events = []
    for ev in rig.events.items:
        if ev.kind in STABLE:
            d = ev.as_json()
            d = {k: ("*" if k in MASK else v) for k, v in d.items()}
            events.append(json.loads(json.dumps(d).replace(str(tmp), "<tmp>")))
    files = {}
    for p in sorted((rig.storage / "scopecount").glob("*/*")):
        if p.is_file():
            files[f"{p.parent.name}/{p.name}"] = p.read_text().replace(str(tmp), "<tmp>")
    return events, files


def test_events_and_day_folder_files_are_as_recorded(tmp_path):
    events, files = session(tmp_path)
    got = {"events": events, "files": files}
    path = GOLDEN / "bench_session.json"
    if os.environ.get("SCOPECOUNT_GOLDEN_UPDATE"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
    want = json.loads(path.read_text())
    assert [e["event"] for e in got["events"]] == [e["event"] for e in want["events"]]
    for g, w in zip(got["events"], want["events"], strict=True):
        assert g == w
    assert sorted(got["files"]) == sorted(want["files"])
    for name in want["files"]:
        assert got["files"][name] == want["files"][name], name
