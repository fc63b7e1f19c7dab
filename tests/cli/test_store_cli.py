"""The model store through the real command line: concurrent pushes, receive, rollback, names."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from device import config
from device.bench.assembly import RunOptions, open_models
from device.bench.watched_model import WatchedModel
from device.cli.model_cmd import read_input
from device.core.errors import BadInput
from tests.bench.test_headless import Headless
from tests.conftest import REPO, local_storage, run_cli
from tests.support import hostile_onnx, onnx_fixtures
from tests.support.cli_checks import one_line_error

EXE = str(Path(sys.executable).with_name("scopecount"))


def model_file(path: Path, name: str, classes=("egg",)) -> Path:
    meta = onnx_fixtures.metadata(list(classes), **{"scopecount.name": name})
    return onnx_fixtures.write(path, onnx_fixtures.bright_spot_model(list(classes), meta=meta))


def store_problems(store: Path) -> list[str]:
    """What is wrong with a store, read from its files (not through the code under test)."""
    problems = []
    state = json.loads((store / "state.json").read_text())
    named = [state["active"], *state.get("previous", []), *state.get("left", [])]
    for sha in named:
        for ext in (".onnx", ".json"):
            if not (store / "models" / f"{sha}{ext}").exists():
                problems.append(f"state.json names {sha[:12]} but {sha[:12]}{ext} is missing")
    active = store / "models" / f"{state['active']}.onnx"
    if active.exists() and hashlib.sha256(active.read_bytes()).hexdigest() != state["active"]:
        problems.append(f"{active.name}: sha256 does not match")
    if list((store / "models").glob(".*.tmp*")):
        problems.append("temporary files left")
    return problems


def test_two_concurrent_installs_queue_for_50_rounds(tmp_path):
    """Two pushes at once, 50 times: the store is whole after every round, the bench starts."""
    cfg_path = tmp_path / "config.toml"
    cfg_path.write_text("[model]\nkeep = 1\n")  # prune hard: the race deleted named files
    cfg = config.load(cfg_path)
    store = tmp_path / "store"
    files = [[model_file(tmp_path / f"r{r}{s}.onnx", f"r{r}{s}") for s in "ab"] for r in range(50)]
    pruned_lines = 0
    t0 = time.monotonic()
    for r, pair in enumerate(files):
        procs = [
            subprocess.Popen(
                [EXE, "model", "install", str(f), "--store", str(store), "--config", str(cfg_path)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=REPO,
            )
            for f in pair
        ]
        outs = [p.communicate(timeout=120) for p in procs]
        for p, (_out, err) in zip(procs, outs, strict=True):
            assert p.returncode == 0, f"round {r}: {err.decode()}"
        pruned_lines += sum(e.decode().count("pruned ") for _, e in outs)
        assert store_problems(store) == [], f"round {r}"
        active = json.loads((store / "state.json").read_text())["active"]
        shas = {hashlib.sha256(f.read_bytes()).hexdigest() for f in pair}
        assert active in shas, f"round {r}: the active model is not one pushed in this round"
        # What `run` does at start with --store: load the store's active model.
        source = open_models(cfg, RunOptions(store=str(store)))
        assert isinstance(source, WatchedModel) and source.sha == active
    took = time.monotonic() - t0
    # keep = 1: each round leaves 2 models (active, previous); the rest was pruned and said so.
    assert len(list((store / "models").glob("*.onnx"))) == 2
    assert pruned_lines == 100 - 2
    # And the real bench starts from it.
    h = Headless(
        tmp_path,
        "--store",
        str(store),
        *local_storage(tmp_path, "records"),
    )
    try:
        ready = h.next_event("ready")
        assert ready["model_sha256"] == active and ready["model"] in ("r49a", "r49b")
    finally:
        assert h.stop() == 0
    print(f"50 rounds of two concurrent installs: {took:.1f} s")


def test_receive_gives_up_on_idle_input(tmp_path):
    store = tmp_path / "store"
    r, w = os.pipe()  # the writing end stays open and silent: a sender that stalled
    try:
        t = time.monotonic()
        proc = subprocess.run(
            [EXE, "model", "receive", "--store", str(store), "--timeout", "1"],
            stdin=r,
            capture_output=True,
            timeout=30,
            cwd=REPO,
        )
        took = time.monotonic() - t
    finally:
        os.close(r)
        os.close(w)
    err = proc.stderr.decode()
    assert proc.returncode == 2 and took < 10
    assert err.count("\n") == 1 and "nothing arrived for 1 s" in err
    assert not (store / "state.json").exists()


def test_receive_refuses_more_than_the_size_limit(tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text("[model]\nmax_mb = 1\n")
    store = tmp_path / "store"
    proc = run_cli(
        "model", "receive", "--store", str(store), "--config", str(cfg), stdin=b"\0" * (2 << 20)
    )
    err = proc.stderr.decode()
    assert proc.returncode == 2 and err.count("\n") == 1
    assert "more than the 1048576 byte limit" in err
    assert not (store / "models").exists() or not list((store / "models").iterdir())


def test_receive_takes_a_model_on_stdin(tmp_path):
    data = model_file(tmp_path / "m.onnx", "piped").read_bytes()
    proc = run_cli("model", "receive", "--store", str(tmp_path / "s"), stdin=data)
    assert proc.returncode == 0, proc.stderr
    listing = json.loads(run_cli("model", "list", "--json", "--store", str(tmp_path / "s")).stdout)
    assert listing["active_sha256"] == hashlib.sha256(data).hexdigest()


def test_rollback_keeps_what_it_leaves_and_install_says_what_it_prunes(tmp_path):
    s = str(tmp_path / "s")
    cfg = tmp_path / "config.toml"
    cfg.write_text("[model]\nkeep = 1\n")
    a, b, c = (model_file(tmp_path / f"{n}.onnx", n) for n in "abc")
    for f in (a, b):
        assert run_cli("model", "install", str(f), "--store", s).returncode == 0
    assert run_cli("model", "activate", "a", "--store", s).returncode == 0
    proc = run_cli("model", "rollback", "--store", s)
    assert proc.returncode == 0 and "rolled back: active b" in proc.stdout.decode()
    assert "stays in the store" in proc.stdout.decode()
    models = json.loads(run_cli("model", "list", "--json", "--store", s).stdout)["models"]
    assert {m["name"]: m["role"] for m in models} == {"b": "active", "a": "rolled back from"}
    # Install c with keep = 1: a (rolled back from) and b (previous) are both within the limit.
    proc = run_cli("model", "install", str(c), "--store", s, "--config", str(cfg))
    assert proc.returncode == 0 and b"pruned" not in proc.stderr
    d = model_file(tmp_path / "d.onnx", "d")
    proc = run_cli("model", "install", str(d), "--store", s, "--config", str(cfg))
    err = proc.stderr.decode().splitlines()
    # b falls off the rollback path (keep = 1): one line names it and its file.
    sha_b = hashlib.sha256(b.read_bytes()).hexdigest()
    assert err == [f"pruned b {sha_b[:12]}: removed {tmp_path / 's' / 'models' / sha_b}.onnx"]


def test_stale_signature_is_named_as_stale(tmp_path):
    key = tmp_path / "k"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    cfg = tmp_path / "config.toml"
    pub = (tmp_path / "k.pub").read_text().strip()
    cfg.write_text(f'[model]\ntrusted_keys = ["{pub}"]\n')
    m = model_file(tmp_path / "m.onnx", "v1")
    assert run_cli("model", "sign", str(m), "--key", str(key)).returncode == 0
    model_file(m, "v2")  # retrained to the same path by something that left the .sig
    proc = run_cli("model", "install", str(m), "--store", str(tmp_path / "s"), "--config", str(cfg))
    err = proc.stderr.decode()
    assert proc.returncode == 2 and "the signature was made for another file" in err
    assert "trusted key" not in err and err.count("\n") == 1
    assert run_cli("model", "sign", str(m), "--key", str(key)).returncode == 0
    proc = run_cli("model", "install", str(m), "--store", str(tmp_path / "s"), "--config", str(cfg))
    assert proc.returncode == 0, proc.stderr


def test_signed_receive_refuses_a_replaced_model_but_install_reinstall_takes_it(tmp_path):
    key = tmp_path / "k"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[model]\ntrusted_keys = ["{(tmp_path / "k.pub").read_text().strip()}"]\n')
    s = ["--store", str(tmp_path / "s"), "--config", str(cfg)]
    v1, v2 = model_file(tmp_path / "v1.onnx", "v1"), model_file(tmp_path / "v2.onnx", "v2")
    for f in (v1, v2):
        assert run_cli("model", "sign", str(f), "--key", str(key)).returncode == 0
        assert run_cli("model", "install", str(f), *s).returncode == 0
    sig = (tmp_path / "v1.onnx.sig").read_text().strip()
    proc = run_cli("model", "receive", "--sig", sig, *s, stdin=v1.read_bytes())
    err = proc.stderr.decode()
    assert proc.returncode == 2 and err.count("\n") == 1
    assert "installed here before and has been replaced" in err and "model activate" in err
    proc = run_cli("model", "receive", "--reinstall", "--sig", sig, *s, stdin=v1.read_bytes())
    assert proc.returncode == 2 and b"for `model install FILE` only" in proc.stderr
    proc = run_cli("model", "install", str(v1), "--reinstall", *s)
    assert proc.returncode == 0 and b"installed here before" in proc.stdout


def test_hostile_names_are_refused_in_one_plain_line(tmp_path):
    for name, classes in [
        ("eggs\x1b]0;pwned\x07\x1b[2J", ["egg"]),
        ("eggs", ["a/b"]),
        ("x" * 5_000_000, ["egg"]),
    ]:
        f = model_file(tmp_path / "m.onnx", name, classes)
        proc = run_cli("model", "install", str(f), "--store", str(tmp_path / "s"))
        err = proc.stderr.decode()
        assert proc.returncode == 2 and err.count("\n") == 1 and len(err) < 400, err[:400]
        assert "\x1b" not in err and "\x07" not in err and str(f) in err
        assert "scopecount.name" in err or "scopecount.classes[0]" in err
    assert not (tmp_path / "s" / "state.json").exists()


def test_receive_has_an_overall_limit_for_a_trickling_sender():
    r, w = os.pipe()
    stop = threading.Event()

    def trickle() -> None:
        while not stop.wait(0.1):
            os.write(w, b"x")

    t = threading.Thread(target=trickle)
    t.start()
    try:
        start = time.monotonic()
        with pytest.raises(BadInput, match=r"not complete after 1 s \(\d+ bytes\)"):
            read_input(r, limit=1 << 20, idle_s=5, total_s=1)
        assert time.monotonic() - start < 3
    finally:
        stop.set()
        t.join()
        os.close(r)
        os.close(w)
    # And a sender that finishes is read whole.
    r, w = os.pipe()
    os.write(w, b"model bytes")
    os.close(w)
    assert read_input(r, limit=100, idle_s=1) == b"model bytes"
    os.close(r)


def test_receive_refuses_a_never_ending_model_at_once(tmp_path):
    t = time.monotonic()
    proc = run_cli(
        "model", "receive", "--store", str(tmp_path / "s"), stdin=hostile_onnx.loop_model()
    )
    took = time.monotonic() - t
    err = proc.stderr.decode()
    assert proc.returncode == 2 and "operator 'Loop'" in err and err.count("\n") == 1
    assert took < 10, took  # a process start on a busy machine; the refusal itself takes ms
    assert not (tmp_path / "s" / "state.json").exists()


@pytest.mark.parametrize(
    "args, env, expected",
    [
        (["--timeout", "nan"], {}, "--timeout nan: must be in (0, 3600] seconds"),
        (["--timeout", "-1"], {}, "--timeout -1: must be in (0, 3600] seconds"),
        ([], {"SSH_ORIGINAL_COMMAND": "receive --sig 'abc"}, "SSH_ORIGINAL_COMMAND: cannot read"),
    ],
)
def test_receive_refuses_bad_options_in_one_line(tmp_path, args, env, expected):
    proc = subprocess.run(
        [EXE, "model", "receive", "--store", str(tmp_path / "s"), *args],
        input=b"x",
        capture_output=True,
        timeout=60,
        env={**os.environ, **env},
    )
    err = proc.stderr.decode()
    assert proc.returncode == 2 and err.count("\n") == 1 and expected in err


def test_model_list_shows_cost_and_training_figures_from_the_file(tmp_path):
    from tests.support import onnx_fixtures

    metrics = {"train_mae": 6.25, "learnt": True, "macs_per_input_pixel": 1000.0}
    meta = onnx_fixtures.metadata(
        ["egg"],
        **{
            "scopecount.metrics": json.dumps(metrics),
            "scopecount.training": json.dumps({"arch": "lite"}),
            "scopecount.input_scale": "0.5",
        },
    )
    m = onnx_fixtures.write(tmp_path / "m.onnx", onnx_fixtures.bright_spot_model(meta=meta))
    s = str(tmp_path / "s")
    assert run_cli("model", "install", str(m), "--store", s).returncode == 0
    # 1280x960 at 0.5 is 640x480: 1000 MACs per input pixel is 0.307 GMAC.
    [rec] = json.loads(run_cli("model", "list", "--json", "--store", s).stdout)["models"]
    assert rec["gmac"] == 0.307 and rec["train_mae"] == 6.25 and rec["learnt"] is True
    assert rec["pi4_s"] > 0
    line = run_cli("model", "list", "--store", s).stdout.decode()
    assert "0.31 GMAC" in line and "train MAE 6.25" in line and "NOT LEARNT" not in line
    header, row = line.splitlines()  # a header names the columns, then one row per model
    assert header.split()[:3] == ["sha256", "name", "classes"] and row.startswith("* ")
    name_at = len("* ") + 12 + 2  # after the mark and the short sha256
    assert header.index("name") == name_at and row[name_at - 1] == " " != row[name_at]


def test_model_list_ignores_figures_of_the_wrong_type(tmp_path):
    from tests.support import onnx_fixtures

    metrics = {"train_mae": "<b>6</b>", "learnt": "no", "macs_per_input_pixel": -5}
    meta = onnx_fixtures.metadata(
        ["egg"],
        **{
            "scopecount.metrics": json.dumps(metrics),
            "scopecount.training": json.dumps({"arch": ["x"]}),
        },
    )
    m = onnx_fixtures.write(tmp_path / "m.onnx", onnx_fixtures.bright_spot_model(meta=meta))
    s = str(tmp_path / "s")
    proc = run_cli("model", "install", str(m), "--store", s)
    assert proc.returncode == 0 and b"NOT learn" not in proc.stderr, proc.stderr
    [rec] = json.loads(run_cli("model", "list", "--json", "--store", s).stdout)["models"]
    assert (rec["train_mae"], rec["learnt"], rec["gmac"], rec["pi4_s"]) == (None,) * 4
    line = run_cli("model", "list", "--store", s).stdout.decode()
    assert "GMAC" not in line and "MAE" not in line and "<b>" not in line


def test_model_list_survives_a_hand_edited_store_record(tmp_path):
    """The store's own records are read like a model file: wrong figures are not shown."""
    from tests.support import onnx_fixtures

    m = onnx_fixtures.write(tmp_path / "m.onnx", onnx_fixtures.bright_spot_model(["egg"]))
    s = tmp_path / "s"
    assert run_cli("model", "install", str(m), "--store", str(s)).returncode == 0
    [rec_path] = (s / "models").glob("*.json")
    rec = json.loads(rec_path.read_text())
    rec.update(gmac=True, pi4_s=1e300, train_mae=10**400)
    rec_path.write_text(json.dumps(rec))
    proc = run_cli("model", "list", "--store", str(s))
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.decode()
    assert "egg" in out and "GMAC" not in out and "Pi 4" not in out and "MAE" not in out


def test_install_refuses_metadata_python_cannot_read_with_exit_2(tmp_path):
    from tests.support import onnx_fixtures

    meta = onnx_fixtures.metadata(["egg"], **{"scopecount.metrics": "[" * 30_000})
    m = onnx_fixtures.write(tmp_path / "m.onnx", onnx_fixtures.bright_spot_model(meta=meta))
    proc = run_cli("model", "install", str(m), "--store", str(tmp_path / "s"))
    err = proc.stderr.decode()
    assert proc.returncode == 2 and len(err.strip().splitlines()) == 1, err
    assert "scopecount.metrics is not valid JSON" in err
    assert not (tmp_path / "s" / "models").exists()


@pytest.mark.parametrize(
    ("where", "why"),
    [
        ("afile/sub", "not a usable path (Not a directory)"),
        ("/proc/scopecount-store", "cannot lock the model store"),
    ],
)
def test_install_into_a_store_path_that_cannot_be_made_is_exit_2(tmp_path, where, why):
    from tests.support import onnx_fixtures

    (tmp_path / "afile").write_text("not a folder")
    m = onnx_fixtures.write(tmp_path / "m.onnx", onnx_fixtures.bright_spot_model(["egg"]))
    store = tmp_path / where if not where.startswith("/") else Path(where)
    proc = run_cli("model", "install", str(m), "--store", str(store))
    err = proc.stderr.decode()
    assert proc.returncode == 2 and len(err.strip().splitlines()) == 1, err
    assert why in err and str(store) in err


def test_a_store_from_before_the_figures_still_shows_not_learnt(tmp_path):
    """Records written before install kept figures: list and activate read the model file."""
    from tests.support import onnx_fixtures

    meta = onnx_fixtures.metadata(
        ["egg"], **{"scopecount.metrics": json.dumps({"learnt": False, "train_mae": 52.0})}
    )
    bad = onnx_fixtures.write(tmp_path / "bad.onnx", onnx_fixtures.bright_spot_model(meta=meta))
    good = onnx_fixtures.write(tmp_path / "good.onnx", onnx_fixtures.bright_spot_model(["egg"]))
    s = tmp_path / "s"
    for m in (bad, good):
        assert run_cli("model", "install", str(m), "--store", str(s), "--force").returncode == 0
    for rec_path in (s / "models").glob("*.json"):
        rec = json.loads(rec_path.read_text())
        for k in ("learnt", "train_mae", "gmac", "pi4_s"):
            rec.pop(k)
        rec_path.write_text(json.dumps(rec))
    lines = run_cli("model", "list", "--store", str(s)).stdout.decode().splitlines()
    assert [("NOT LEARNT" in ln, "train MAE 52" in ln) for ln in lines].count((True, True)) == 1
    proc = run_cli("model", "rollback", "--store", str(s))
    assert proc.returncode == 0 and b"did NOT learn to count" in proc.stderr, proc.stderr


def test_activating_a_name_several_models_share_says_which_it_took(tmp_path):
    """An int8 and a float file, or two trainings, may carry one name: `activate NAME` takes
    the newest installed and says so, with its sha256, instead of choosing silently."""
    s = str(tmp_path / "s")
    one = model_file(tmp_path / "one.onnx", "eggs")
    two = model_file(tmp_path / "two.onnx", "eggs", classes=("egg", "larva"))
    other = model_file(tmp_path / "other.onnx", "other")
    for f in (one, two, other):
        assert run_cli("model", "install", str(f), "--store", s).returncode == 0
    models = json.loads(run_cli("model", "list", "--json", "--store", s).stdout)["models"]
    newest = next(m["sha256"] for m in models if m["name"] == "eggs")  # listed newest first
    assert newest == hashlib.sha256(two.read_bytes()).hexdigest()
    proc = run_cli("model", "activate", "eggs", "--store", s)
    assert proc.returncode == 0 and newest[:12] in proc.stdout.decode()
    assert b"2 models are named eggs" in proc.stderr, proc.stderr
    proc = run_cli("model", "activate", "other", "--store", s)
    assert proc.returncode == 0 and proc.stderr == b""
    proc = run_cli("model", "activate", newest[:12], "--store", s)  # a sha names one model
    assert proc.returncode == 0 and proc.stderr == b""


def test_benchmark_gives_the_cost_model_list_gives(tmp_path):
    """`scopecount benchmark` times a whole count and gives a frame's GMAC for the padded input,
    as `train` and `model list` do (it once gave 0.40 where they gave 0.41)."""
    from device.core.paths import default_model

    s = str(tmp_path / "s")
    assert run_cli("model", "install", str(default_model()), "--store", s).returncode == 0
    [rec] = json.loads(run_cli("model", "list", "--json", "--store", s).stdout)["models"]
    proc = run_cli("benchmark", "--model", str(default_model()), "--threads", "1", "--repeats", "2")
    assert proc.returncode == 0, proc.stderr
    rows = [ln.split("|") for ln in proc.stdout.decode().splitlines() if "1280x960" in ln]
    [row] = rows
    count_ms, infer_ms, gmac = float(row[5]), float(row[7]), float(row[8])
    assert gmac == round(rec["gmac"], 2) and count_ms > 0 and infer_ms > 0


def test_store_paths_that_lead_nowhere_are_one_line(tmp_path, spot_model):
    (tmp_path / "loop1").symlink_to(tmp_path / "loop2")
    (tmp_path / "loop2").symlink_to(tmp_path / "loop1")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    for store, needle in (("loop1", "not a usable path"), ("dangling", "a link to nothing")):
        for action in (["list"], ["install", str(spot_model)]):
            proc = run_cli("model", *action, "--store", str(tmp_path / store))
            one_line_error(proc, needle)
    one_line_error(run_cli("model", "list", "--store", ""), "--store: an empty path")
    assert not (tmp_path / "nowhere").exists()


def test_a_file_where_the_store_should_be_is_one_line(tmp_path, spot_model):
    (tmp_path / "store").write_text("")
    one_line_error(
        run_cli("model", "install", str(spot_model), "--store", str(tmp_path / "store")),
        "is a file",
    )


def test_a_model_that_never_learnt_is_refused_unless_forced(tmp_path):
    """`train` marks a model that did not learn to count; installing it is one line, exit 2,
    and the store unchanged, unless --force (then it says so again)."""
    from tests.support import onnx_fixtures
    from tests.support.cli_checks import one_line_error

    meta = onnx_fixtures.metadata(
        ["egg"], **{"scopecount.metrics": json.dumps({"learnt": False, "train_mae": 52.0})}
    )
    bad = onnx_fixtures.write(tmp_path / "bad.onnx", onnx_fixtures.bright_spot_model(meta=meta))
    s = tmp_path / "s"
    proc = run_cli("model", "install", str(bad), "--store", str(s))
    one_line_error(proc, "did NOT learn to count", "--force")
    assert not (s / "models").exists() or not any((s / "models").iterdir())
    proc = run_cli("model", "install", str(bad), "--store", str(s), "--force")
    assert proc.returncode == 0 and b"active" in proc.stdout, proc.stderr
    assert b"did NOT learn to count" in proc.stderr


def test_model_list_says_not_learnt_first_and_how_a_zoom_range_was_made(tmp_path):
    """NOT LEARNT leads the column (a long figure once cut it to "NOT LEA"); a measured range
    on few images says noisy, and the one rule for all says rule (found by review)."""
    from tests.support import onnx_fixtures

    zoom = {"ref_px": 8, "lo": 0.9, "hi": 1.1, "adapt": True, "flag_lo": 0.62, "flag_hi": 2.2}
    s = str(tmp_path / "s")
    for name, metrics, training in [
        ("rule", {"train_mae": 1.5, "learnt": True}, {}),
        ("noisy", {"train_mae": 123456.0, "learnt": False}, {"zoom_range": {"images": 6}}),
    ]:
        meta = onnx_fixtures.metadata(
            ["egg"],
            **{
                "scopecount.name": name,
                "scopecount.metrics": json.dumps(metrics),
                "scopecount.training": json.dumps(training),
                "scopecount.zoom": json.dumps(zoom | {"flag_lo": 0.77} if training else zoom),
            },
        )
        m = onnx_fixtures.write(
            tmp_path / f"{name}.onnx", onnx_fixtures.bright_spot_model(meta=meta)
        )
        assert run_cli("model", "install", str(m), "--store", s, "--force").returncode == 0
    header, noisy, rule = run_cli("model", "list", "--store", s).stdout.decode().splitlines()
    at = header.index("training")
    assert noisy[at:].startswith("NOT LEARNT, train MAE 1.235e+05, zoom 0.77-2.20x (noisy)")
    assert rule[at:].startswith("train MAE 1.5, zoom 0.62-2.20x (rule) ")
