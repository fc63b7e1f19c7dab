"""Deploy over a real sshd on 127.0.0.1 with a key restricted to `scopecount model receive`."""

import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import local_storage, run_cli
from tests.support import onnx_fixtures
from tests.support.sshd import SSHD, Sshd, free_port, keygen, start_sshd

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="sshd for a key login needs root (CI is root)"),
    pytest.mark.skipif(
        not Path(SSHD).exists() or not shutil.which("ssh"),
        reason="openssh-server is not installed (make test installs it as root)",
    ),
]


def authorize(server, key, store, cfg):
    """The bench side: the deploy key may run `scopecount model receive` and nothing else."""
    proc = run_cli(
        "model",
        "authorize-key",
        str(key) + ".pub",
        "--store",
        str(store),
        "--config",
        str(cfg),
        "--install",
        "--authorized-keys",
        str(server.authorized_keys),
    )
    assert proc.returncode == 0, proc.stderr


@pytest.fixture(scope="module")
def bench_ssh(tmp_path_factory):
    root = tmp_path_factory.mktemp("ssh")
    store = root / "store"
    cfg = root / "bench.toml"
    cfg.write_text("[model]\nmax_mb = 1\n")
    server = start_sshd(root / "sshd")
    key = keygen(root / "deploy_key")
    authorize(server, key, store, cfg)
    line = server.authorized_keys.read_text()
    assert line.startswith('restrict,command="') and "model receive" in line
    yield server, key, store, cfg
    server.stop()


def deploy(server, key, path):
    return run_cli(
        "deploy",
        "root@127.0.0.1",
        str(path),
        "--port",
        str(server.port),
        "--identity",
        str(key),
        *sum((["--ssh-option", o] for o in server.client_options()), []),
    )


def active(store):
    proc = run_cli("model", "list", "--json", "--store", str(store))
    return json.loads(proc.stdout)["active_sha256"] if proc.returncode == 0 else None


def test_good_model_becomes_active(bench_ssh, tmp_path):
    server, key, store, _ = bench_ssh
    good = onnx_fixtures.write(tmp_path / "good.onnx", onnx_fixtures.bright_spot_model(["egg"]))
    proc = deploy(server, key, good)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert b"installed bright-spot" in proc.stdout
    assert active(store) == hashlib.sha256(good.read_bytes()).hexdigest()


def bad_files(tmp: Path) -> dict[str, Path]:
    good = onnx_fixtures.bright_spot_model(["egg"])
    rng = np.random.default_rng(0)
    files = {
        "truncated": good[: len(good) // 2],
        "random": rng.integers(0, 256, 5000, dtype=np.uint8).tobytes(),
        "oversized": rng.integers(0, 256, 2 * 1024 * 1024, dtype=np.uint8).tobytes(),
        "wrong-shapes": onnx_fixtures.bright_spot_model(["a", "b"], out_channels=3),
        "broken-metadata": onnx_fixtures.bright_spot_model(
            meta=onnx_fixtures.metadata(["egg"], **{"scopecount.decode": "{oops"})
        ),
    }
    out = {k: onnx_fixtures.write(tmp / f"{k}.onnx", v) for k, v in files.items()}
    empty = tmp / "empty.onnx"
    empty.write_bytes(b"")
    out["empty"] = empty
    return out


def test_bad_files_are_refused_and_active_model_stays(bench_ssh, tmp_path):
    server, key, store, _ = bench_ssh
    good = onnx_fixtures.write(tmp_path / "g.onnx", onnx_fixtures.bright_spot_model(["egg"]))
    assert deploy(server, key, good).returncode == 0
    before = active(store)
    for name, path in bad_files(tmp_path).items():
        if name == "empty":  # deploy itself refuses to send nothing; the bench refuses too
            r = server.ssh(key, "scopecount model receive", b"")
        else:
            r = deploy(server, key, path)
        assert r.returncode != 0, name
        assert b"refused" in (r.stdout + r.stderr), (name, r.stdout, r.stderr)
        assert active(store) == before, name


def test_restricted_key_cannot_run_a_shell(bench_ssh, tmp_path):
    server, key, store, _ = bench_ssh
    mark = tmp_path / "pwned"
    r = server.ssh(key, f"touch {mark}; echo shell")
    assert not mark.exists()
    assert b"shell" not in r.stdout
    assert r.returncode != 0
    # no port forwarding either: the server refuses to listen for us
    fwd = subprocess.run(
        [
            "ssh",
            "-o",
            "BatchMode=yes",
            "-o",
            "ExitOnForwardFailure=yes",
            "-p",
            str(server.port),
            "-i",
            str(key),
            *sum((["-o", o] for o in server.client_options()), []),
            "-N",
            "-R",
            f"127.0.0.1:{free_port()}:127.0.0.1:{server.port}",
            "root@127.0.0.1",
        ],
        capture_output=True,
        timeout=30,
    )
    assert fwd.returncode != 0


def test_running_bench_switches_model_without_restart(bench_ssh, tmp_path):
    server, key, store, _ = bench_ssh
    first = onnx_fixtures.write(tmp_path / "first.onnx", onnx_fixtures.bright_spot_model(["egg"]))
    assert deploy(server, key, first).returncode == 0
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "cache"))
    exe = Path(sys.executable).with_name("scopecount")
    bench = subprocess.Popen(
        [
            str(exe),
            "run",
            "--sim",
            "--headless",
            "--store",
            str(store),
            *local_storage(tmp_path),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        ready = json.loads(bench.stdout.readline())
        assert ready["event"] == "ready" and ready["classes"] == ["egg"]
        meta = onnx_fixtures.metadata(["fly"], **{"scopecount.name": "flies-v2"})
        second = onnx_fixtures.write(
            tmp_path / "second.onnx", onnx_fixtures.bright_spot_model(["fly"], meta=meta)
        )
        assert deploy(server, key, second).returncode == 0
        t0 = time.monotonic()
        while True:
            ev = json.loads(bench.stdout.readline())
            if ev["event"] == "model":
                break
        assert time.monotonic() - t0 < 2.5
        assert ev["name"] == "flies-v2" and ev["classes"] == ["fly"]
        bench.send_signal(signal.SIGUSR1)
        while ev["event"] != "recorded":
            ev = json.loads(bench.stdout.readline())
        assert ev["model"] == "flies-v2" and list(ev["counts"]) == ["fly"]
    finally:
        bench.send_signal(signal.SIGTERM)
        assert bench.wait(timeout=20) == 0


def test_signed_models_only_when_keys_are_trusted(tmp_path):
    server = start_sshd(tmp_path / "sshd")
    try:
        key = keygen(tmp_path / "deploy_key")
        signer = keygen(tmp_path / "signer")
        store = tmp_path / "store"
        cfg = tmp_path / "bench.toml"
        pub = (tmp_path / "signer.pub").read_text().strip()
        cfg.write_text(f'[model]\ntrusted_keys = ["{pub}"]\n')
        authorize(server, key, store, cfg)
        model = onnx_fixtures.write(tmp_path / "m.onnx", onnx_fixtures.bright_spot_model(["egg"]))
        r = deploy(server, key, model)
        assert r.returncode != 0 and b"unsigned" in r.stdout + r.stderr
        assert active(store) is None
        proc = run_cli("model", "sign", str(model), "--key", str(signer))
        assert proc.returncode == 0 and (tmp_path / "m.onnx.sig").exists()
        r = deploy(server, key, model)
        assert r.returncode == 0, r.stdout + r.stderr
        assert active(store) == hashlib.sha256(model.read_bytes()).hexdigest()
    finally:
        server.stop()


@contextlib.contextmanager
def plain_shell_account(tmp_path: Path) -> Iterator[tuple[Sshd, Path, Path, Path]]:
    """A real sshd whose account has no forced command (a plain shell login), a key for it,
    the file a hostile payload would create, and a model to push."""
    server = start_sshd(tmp_path / "sshd")
    try:
        key = keygen(tmp_path / "plain_key")
        server.authorized_keys.write_text((tmp_path / "plain_key.pub").read_text())
        model = onnx_fixtures.write(tmp_path / "m.onnx", onnx_fixtures.bright_spot_model(["egg"]))
        yield server, key, tmp_path / "pwned", model
    finally:
        server.stop()


def test_hostile_signature_file_runs_nothing_and_is_refused(tmp_path):
    """A .sig is data: on an account without a forced command (a plain shell login) a .sig
    holding shell syntax must not run, here or on the bench; deploy refuses it with exit 2."""
    with plain_shell_account(tmp_path) as (server, key, mark, model):
        for payload in (f"; touch {mark}", f"AAAA$(touch {mark})", f"AAAA\ntouch {mark}"):
            (tmp_path / "m.onnx.sig").write_text(payload)
            r = deploy(server, key, model)
            assert r.returncode == 2, r.stdout + r.stderr
            err = r.stderr.decode().strip()
            assert len(err.splitlines()) == 1 and "m.onnx.sig" in err, err
            assert b"Traceback" not in r.stderr
            assert not mark.exists(), payload


def test_signature_goes_to_the_bench_as_one_quoted_word():
    from export.deploy import ssh_command

    cmd = ssh_command("bench", None, None, [], "ab+/cd==")
    assert cmd[-1] == "scopecount model receive --sig ab+/cd=="
    assert cmd[-2] == "bench"


ANSIBLE = shutil.which("ansible-playbook") or str(
    Path(sys.executable).with_name("ansible-playbook")
)
PLAYBOOK = Path(__file__).resolve().parents[2] / "export" / "fleet" / "deploy.yml"


def playbook(server, key, model, tmp_path):
    if not Path(ANSIBLE).exists():
        pytest.skip("ansible-playbook is not installed (pip install ansible-core)")
    inv = tmp_path / "inventory.ini"
    inv.write_text(
        f"[benches]\nbench1 ansible_host=127.0.0.1 ansible_port={server.port}\n"
        f"[benches:vars]\nansible_user=root\nansible_ssh_private_key_file={key}\n"
        f"known_hosts_file={server.known_hosts}\n"
    )
    env = dict(os.environ, ANSIBLE_LOCAL_TEMP=str(tmp_path / "ans"), ANSIBLE_NOCOLOR="1")
    return subprocess.run(
        [ANSIBLE, "-i", str(inv), str(PLAYBOOK), "-e", f"model={model}"],
        capture_output=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
    )


def test_playbook_installs_a_model(bench_ssh, tmp_path):
    server, key, store, _ = bench_ssh
    model = onnx_fixtures.write(tmp_path / "p.onnx", onnx_fixtures.bright_spot_model(["egg"]))
    r = playbook(server, key, model, tmp_path)
    assert r.returncode == 0, r.stdout.decode()[-2000:]
    assert active(store) == hashlib.sha256(model.read_bytes()).hexdigest()


def test_playbook_never_runs_a_hostile_signature(tmp_path):
    """The playbook once put the .sig into a shell: task text, on the workstation and on a
    bench account without a forced command. Now it checks the signature and runs nothing."""
    with plain_shell_account(tmp_path) as (server, key, mark, model):
        for payload in (f"; touch {mark}", f'AAAA"; touch {mark}; echo "', f"$(touch {mark})"):
            (tmp_path / "m.onnx.sig").write_text(payload)
            r = playbook(server, key, model, tmp_path)
            out = r.stdout.decode()
            assert r.returncode != 0, out[-2000:]
            assert "not a base64 signature" in out, out[-2000:]
            assert not mark.exists(), payload
