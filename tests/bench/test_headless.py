import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, local_storage


class Headless:
    def __init__(self, tmp: Path, *args: str) -> None:
        env = dict(os.environ, XDG_CACHE_HOME=str(tmp / "cache"))
        exe = Path(sys.executable).with_name("scopecount")
        self.proc = subprocess.Popen(
            [str(exe), "run", "--sim", "--headless", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=REPO,
            env=env,
        )
        self.events: list[dict] = []

    def next_event(self, kind: str, timeout: float = 60) -> dict:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            line = self.proc.stdout.readline()
            if not line:
                raise AssertionError(f"exited {self.proc.wait()}: {self.proc.stderr.read()!r}")
            ev = json.loads(line)
            self.events.append(ev)
            if ev["event"] == kind:
                return ev
        raise AssertionError(f"no {kind} event; got {self.events}")

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=20)


@pytest.fixture
def spot(tmp_path, spot_model):
    return spot_model


def test_sigusr1_records_and_sigterm_exits_0(tmp_path, spot):
    store, spool = tmp_path / "records", tmp_path / "spool"
    h = Headless(
        tmp_path,
        "--storage",
        str(store),
        "--local-storage",
        "--spool",
        str(spool),
        "--model",
        str(spot),
    )
    try:
        ready = h.next_event("ready")
        assert ready["model"] == "bright-spot" and ready["storage"]["where"] == "local"
        ids = []
        for _ in range(3):
            h.proc.send_signal(signal.SIGUSR1)
            ev = h.next_event("recorded")
            assert set(ev["counts"]) == {"spot"} and isinstance(ev["counts"]["spot"], int)
            ids.append(ev["id"])
    finally:
        assert h.stop() == 0
    lines = next(store.glob("scopecount/*/records.jsonl")).read_text().splitlines()
    assert [json.loads(x)["id"] for x in lines] == ids
    assert len(set(ids)) == 3


def test_sigusr2_is_a_long_hold_that_voids_the_last_record(tmp_path, spot):
    store = tmp_path / "rec"
    store.mkdir()
    h = Headless(tmp_path, *local_storage(tmp_path), "--model", str(spot))
    try:
        h.next_event("ready")
        h.proc.send_signal(signal.SIGUSR1)
        rec = h.next_event("recorded")
        h.proc.send_signal(signal.SIGUSR2)
        assert h.next_event("voided")["id"] == rec["id"]
    finally:
        assert h.stop() == 0
    voids = next(store.glob("scopecount/*/voids.jsonl")).read_text().splitlines()
    assert [json.loads(x)["id"] for x in voids] == [rec["id"]]


def test_bare_mount_point_is_never_written(tmp_path, spot):
    store, spool = tmp_path / "media-stick", tmp_path / "spool"
    store.mkdir()
    h = Headless(tmp_path, "--storage", str(store), "--spool", str(spool), "--model", str(spot))
    try:
        ready = h.next_event("ready")
        assert ready["storage"]["where"] == "spool"
        assert "no USB stick" in ready["storage"]["reason"]
        h.proc.send_signal(signal.SIGUSR1)
        ev = h.next_event("recorded")
        assert ev["stored"] == "spool"
    finally:
        assert h.stop() == 0
    assert list(store.iterdir()) == []
    assert len(list(spool.glob("scopecount/*/records.jsonl"))) == 1


def test_bad_config_exits_2(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text("[button]\nhold_s = -1\n")
    h = Headless(tmp_path, "--config", str(cfg))
    assert h.proc.wait(timeout=30) == 2
    err = h.proc.stderr.read().decode()
    assert str(cfg) in err and "hold_s" in err and "Traceback" not in err


def test_results_of_a_synthetic_only_model_say_so(tmp_path, spot):
    (tmp_path / "rec").mkdir()
    h = Headless(
        tmp_path,
        *local_storage(tmp_path),
        "--model",
        str(spot),
    )
    try:
        assert "synthetic vials only" in h.next_event("ready")["warning"]
        h.proc.send_signal(signal.SIGUSR1)
        assert "synthetic vials only" in h.next_event("recorded")["warning"]
    finally:
        assert h.stop() == 0


def test_a_link_planted_as_the_spool_lock_is_refused_not_followed(tmp_path):
    from device.bench.locks import LockFile
    from device.core.errors import BadInput

    victim = tmp_path / "victim"
    victim.write_text("keep me")
    (tmp_path / ".lock").symlink_to(victim)
    with pytest.raises(BadInput, match="lock file"):
        LockFile(tmp_path / ".lock", "spool")
    assert victim.read_text() == "keep me"
