"""A model store whose own files were tampered with: records, stray files, a linked lock.

The store is root's on a bench, but a damaged stick, a half-restored backup or a hand edit must
not make `model list/activate/rollback/install` read outside the store, hang, print control
characters, or crash with a traceback.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.support import onnx_fixtures


def _store_with_two(tmp_path: Path, first_meta: dict | None = None) -> tuple[Path, list[str]]:
    first = onnx_fixtures.write(
        tmp_path / "first.onnx", onnx_fixtures.bright_spot_model(["egg"], meta=first_meta)
    )
    second = onnx_fixtures.write(tmp_path / "second.onnx", onnx_fixtures.bright_spot_model(["e"]))
    s = tmp_path / "s"
    for m in (first, second):
        assert run_cli("model", "install", str(m), "--store", str(s), "--force").returncode == 0
    listing = json.loads(run_cli("model", "list", "--json", "--store", str(s)).stdout)
    return s, [m["sha256"] for m in listing["models"]]


def test_a_record_cannot_point_list_at_a_file_outside_the_store(tmp_path):
    meta = onnx_fixtures.metadata(
        ["egg"], **{"scopecount.metrics": json.dumps({"learnt": False, "train_mae": 9.0})}
    )
    onnx_fixtures.write(tmp_path / "outside.onnx", onnx_fixtures.bright_spot_model(meta=meta))
    s, _ = _store_with_two(tmp_path)
    for name, sha in (("evil", "../../outside"), ("nul", "x\u0000y")):
        (s / "models" / f"{name}.json").write_text(json.dumps({"sha256": sha, "name": name}))
    proc = run_cli("model", "list", "--store", str(s), timeout=30)
    out = proc.stdout.decode()
    assert proc.returncode == 0, proc.stderr
    assert "evil" not in out and "nul" not in out and "NOT LEARNT" not in out


def test_stray_fifos_do_not_hang_install_or_list(tmp_path):
    s, _ = _store_with_two(tmp_path)
    os.mkfifo(s / "models" / "junk.onnx")
    sha = "ab" * 32
    os.mkfifo(s / "models" / f"{sha}.onnx")
    (s / "models" / f"{sha}.json").write_text(json.dumps({"sha256": sha, "name": "fifo"}))
    assert run_cli("model", "list", "--store", str(s), timeout=30).returncode == 0
    third = onnx_fixtures.write(tmp_path / "third.onnx", onnx_fixtures.bright_spot_model(["t"]))
    proc = run_cli("model", "install", str(third), "--store", str(s), timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert not (s / "models" / "junk.onnx").exists()  # pruned, as any stray file


def test_a_linked_lock_file_is_refused_and_its_target_untouched(tmp_path):
    s, _ = _store_with_two(tmp_path)
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me\n")
    (s / ".lock").unlink()
    (s / ".lock").symlink_to(victim)
    state = (s / "state.json").read_bytes()
    proc = run_cli("model", "rollback", "--store", str(s))
    err = proc.stderr.decode()
    assert proc.returncode == 2 and len(err.strip().splitlines()) == 1, err
    assert victim.read_text() == "keep me\n" and (s / "state.json").read_bytes() == state


def test_tampered_records_neither_crash_nor_reach_the_terminal(tmp_path):
    meta = onnx_fixtures.metadata(
        ["egg"], **{"scopecount.metrics": json.dumps({"learnt": False, "train_mae": 9.0})}
    )
    s, shas = _store_with_two(tmp_path, meta)
    first, second = shas[1], shas[0]  # newest first
    (s / "models" / f"{first}.json").write_text(
        json.dumps(
            {
                "sha256": first,
                "name": 7,
                "classes": [1, "\u001b[2J"],
                "size": "x",
                "learnt": False,
                "train_mae": "\u001b[2J\u001b[31mFAKE\n\rall good",
            }
        )
    )
    (s / "models" / f"{second}.json").write_text("[" * 200_000)
    proc = run_cli("model", "list", "--store", str(s))
    assert proc.returncode == 0 and b"\x1b" not in proc.stdout, proc.stderr
    proc = run_cli("model", "rollback", "--store", str(s))
    assert proc.returncode == 0, proc.stderr
    assert b"\x1b" not in proc.stderr + proc.stdout and b"FAKE" not in proc.stderr
    assert b"did NOT learn" in proc.stderr and first[:12].encode() in proc.stdout


HOSTILE_SIGS = ("QUJD" * 60, "QUJD\nrm -rf /", "$(touch x)", "", "\x1b[2J", "garbage")


def test_a_signature_beside_the_model_is_read_as_untrusted_data(tmp_path):
    """`install FILE` and `deploy` read FILE.sig through one reader: a FIFO or a folder does not
    hang or crash it, a huge file is not read whole, and what is not one base64 signature is
    refused naming the .sig."""
    from device.core.errors import BadInput
    from device.models.signing import read_signature_beside

    model = onnx_fixtures.write(tmp_path / "m.onnx", onnx_fixtures.bright_spot_model(["egg"]))
    sig = tmp_path / "m.onnx.sig"
    assert read_signature_beside(model) is None
    sig.write_text("QUJD" * 22 + "\n")
    assert read_signature_beside(model) == "QUJD" * 22
    for hostile in HOSTILE_SIGS:
        sig.write_text(hostile)
        with pytest.raises(BadInput, match="m.onnx.sig") as e:
            read_signature_beside(model)
        assert "\n" not in str(e.value)
    sig.unlink()
    secret = tmp_path / "machine-id"
    secret.write_text("0123456789abcdef0123456789abcdef\n")  # one base64-looking word
    for target in (secret, tmp_path / "nowhere"):
        sig.symlink_to(target)
        with pytest.raises(BadInput, match="m.onnx.sig: a link"):
            read_signature_beside(model)
        sig.unlink()
    for odd in (os.mkfifo, os.mkdir):
        odd(sig)
        with pytest.raises(BadInput, match="m.onnx.sig: not a regular file"):
            read_signature_beside(model)
        os.rmdir(sig) if sig.is_dir() else sig.unlink()


def test_a_bad_signature_blocks_a_signed_store_and_is_set_aside_by_an_unsigned_one(tmp_path):
    """A store that trusts keys refuses the install (exit 2, store unchanged); one that checks
    no signatures installs the model and says it left the .sig aside."""
    import subprocess

    key = tmp_path / "k"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    signed = tmp_path / "signed.toml"
    signed.write_text(f'[model]\ntrusted_keys = ["{(tmp_path / "k.pub").read_text().strip()}"]\n')
    model = onnx_fixtures.write(tmp_path / "m.onnx", onnx_fixtures.bright_spot_model(["egg"]))
    sig = tmp_path / "m.onnx.sig"
    for k, hostile in enumerate(HOSTILE_SIGS):
        sig.write_text(hostile)
        s = tmp_path / f"signed{k}"
        proc = run_cli("model", "install", str(model), "--store", str(s), "--config", str(signed))
        err = proc.stderr.decode().strip()
        assert proc.returncode == 2 and "m.onnx.sig" in err and len(err.splitlines()) == 1, err
        assert not (s / "models").exists() or not any((s / "models").glob("*.onnx"))
        proc = run_cli("model", "install", str(model), "--store", str(tmp_path / f"plain{k}"))
        err = proc.stderr.decode().strip()
        assert proc.returncode == 0 and len(err.splitlines()) == 1, err
        assert "m.onnx.sig" in err and "installed without it" in err and "\x1b" not in err


def test_newest_is_by_the_moment_not_the_text_of_the_install_time(tmp_path):
    """Across a clock change the earlier moment can read later as text (02:45+02:00 is 00:45
    UTC, 02:30+01:00 is 01:30 UTC)."""
    s, shas = _store_with_two(tmp_path)
    stamps = ("2026-10-25T02:45:00.000000+02:00", "2026-10-25T02:30:00.0000001+01:00")
    for sha, stamp in zip(shas, stamps, strict=True):
        rec = json.loads((s / "models" / f"{sha}.json").read_text())
        rec.update(name="same", installed=stamp)
        (s / "models" / f"{sha}.json").write_text(json.dumps(rec))
    listing = json.loads(run_cli("model", "list", "--json", "--store", str(s)).stdout)
    assert [m["installed"] for m in listing["models"]] == list(reversed(stamps))
    proc = run_cli("model", "activate", "same", "--store", str(s))
    assert proc.returncode == 0 and shas[1][:12] in proc.stdout.decode(), proc.stdout
    out = run_cli("model", "list", "--store", str(s)).stdout.decode()
    assert "2026-10-25T02:30:00+01:00" in out and "0000001" not in out


def test_a_fifo_for_state_json_and_escapes_in_the_store_path_stay_harmless(tmp_path):
    s, _ = _store_with_two(tmp_path)
    (s / "state.json").unlink()
    os.mkfifo(s / "state.json")
    proc = run_cli("model", "list", "--store", str(s), timeout=30)  # it hung before
    err = proc.stderr.decode().strip()
    assert proc.returncode == 2 and "unreadable store state" in err and len(err.splitlines()) == 1
    red = tmp_path / "e\x1b[31mRED"
    red.mkdir()
    for args in (["list"], ["rollback"], ["activate", "nosuch"]):
        proc = run_cli("model", *args, "--store", str(red), timeout=30)
        out = proc.stdout + proc.stderr
        assert b"\x1b" not in out and b"\\x1b[31mRED" in out, out


def test_a_stray_file_with_escapes_in_its_name_is_pruned_and_named_escaped(tmp_path):
    s, _ = _store_with_two(tmp_path)
    (s / "models" / "j\x1b[32mG.onnx").write_text("stray")
    third = onnx_fixtures.write(tmp_path / "third.onnx", onnx_fixtures.bright_spot_model(["t"]))
    proc = run_cli("model", "install", str(third), "--store", str(s), timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert b"pruned" in proc.stderr and b"\x1b" not in proc.stderr, proc.stderr
    assert not (s / "models" / "j\x1b[32mG.onnx").exists()


def test_absurd_figures_keep_to_their_column_in_model_list(tmp_path):
    metrics = {"train_mae": 0.5, "learnt": True, "macs_per_input_pixel": 999999.0}
    meta = onnx_fixtures.metadata(
        ["egg"], **{"scopecount.metrics": json.dumps(metrics), "scopecount.input_scale": "4"}
    )
    m = onnx_fixtures.write(tmp_path / "m.onnx", onnx_fixtures.bright_spot_model(meta=meta))
    s = tmp_path / "s"
    assert run_cli("model", "install", str(m), "--store", str(s)).returncode == 0
    header, row = run_cli("model", "list", "--store", str(s)).stdout.decode().splitlines()
    assert row.index("train MAE") == header.index("training"), (header, row)
