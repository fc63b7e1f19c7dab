import hashlib
import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from device.bench.watched_model import WatchedModel
from device.core.errors import BadInput
from device.core.keys import parse_public_key
from device.models.checks import Limits
from device.models.signing import sign
from device.models.store import ModelStore
from tests.support import onnx_fixtures


def model_bytes(name: str, classes=("egg",)) -> bytes:
    meta = onnx_fixtures.metadata(list(classes), **{"scopecount.name": name})
    return onnx_fixtures.bright_spot_model(list(classes), meta=meta)


def test_what_install_returns_is_what_it_writes_and_list_shows(tmp_path):
    """The install record on disk, install's result and `model list --json` agree, key for key
    and in the same order (the JSON a lab's scripts read)."""
    st = ModelStore(tmp_path / "store")
    res = st.install(model_bytes("a"))
    path = tmp_path / "store" / "models" / f"{res.record.sha256}.json"
    on_disk = json.loads(path.read_text())
    assert list(on_disk.items()) == list(res.record.as_dict().items())
    assert res.as_dict() == {**on_disk, "again": False, "already_active": False, "pruned": []}
    listed = st.list().as_dict()["models"]
    assert listed == [{**on_disk, "active": True, "role": "active"}]


def test_install_list_activate_rollback(tmp_path):
    st = ModelStore(tmp_path / "store")
    a, b = model_bytes("a"), model_bytes("b")
    st.install(a)
    st.install(b)
    listing = st.list()
    assert listing.active_sha256 == hashlib.sha256(b).hexdigest()
    assert {m.record["name"] for m in listing.models} == {"a", "b"}
    assert st.activate("a").name == "a"
    assert st.active_sha() == hashlib.sha256(a).hexdigest()
    assert st.rollback().name == "b"
    with pytest.raises(BadInput, match="no such model"):
        st.activate("zzz")


def test_keeps_only_configured_history(tmp_path):
    st = ModelStore(tmp_path / "s", Limits(keep=1))
    for n in "abc":
        st.install(model_bytes(n))
    names = sorted(m.record["name"] for m in st.list().models)
    assert names == ["b", "c"]
    assert len(list((tmp_path / "s" / "models").glob("*.onnx"))) == 2


@pytest.mark.parametrize(
    "data, why",
    [
        (b"", "empty file"),
        (b"x" * 2048, "over the 1024 byte limit"),
        (b"\x08\x01" * 40, "not a loadable ONNX model"),
    ],
)
def test_refusals_leave_the_active_model(tmp_path, data, why):
    st = ModelStore(tmp_path / "s", Limits(max_bytes=1024 if len(data) == 2048 else 10**7))
    good = model_bytes("good")
    if len(good) <= st.limits.max_bytes:
        st.install(good)
    before = st.state()
    with pytest.raises(BadInput, match=why):
        st.install(data)
    assert st.state() == before


def test_signatures_when_keys_are_trusted(tmp_path):
    key = tmp_path / "k"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    from device.models.signing import load_private_key

    trusted = [parse_public_key((tmp_path / "k.pub").read_text(), "test")]
    data = model_bytes("signed")
    st = ModelStore(tmp_path / "s")
    with pytest.raises(BadInput, match="unsigned"):
        st.install(data, signature=None, trusted=trusted)
    other = tmp_path / "o"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    with pytest.raises(BadInput, match="does not match"):
        st.install(data, signature=sign(data, load_private_key(other)), trusted=trusted)
    altered = model_bytes("signed-then-changed")
    # A signature left beside a changed file: the message says so, and does not blame the key.
    with pytest.raises(BadInput, match="made for another file") as e:
        st.install(altered, signature=sign(data, load_private_key(key)), trusted=trusted)
    assert "trusted key" not in str(e.value)
    info = st.install(data, signature=sign(data, load_private_key(key)), trusted=trusted)
    assert info.record.signed is True and st.list().models[0].record["name"] == "signed"


def test_watched_model_hot_swap_and_rollback_on_failure(tmp_path):
    st = ModelStore(tmp_path / "s")
    st.install(model_bytes("first"))
    watched = WatchedModel(st)
    assert watched.poll() is None
    st.install(model_bytes("second", ("fly",)))
    ev = watched.poll()
    assert ev.kind == "model" and ev.data["name"] == "second" and ev.data["classes"] == ["fly"]
    assert watched.current().name == "second"
    ev = watched.failed(RuntimeError("boom"))
    assert "rolled back to first" in ev.data["message"] and ev.data["error"]
    assert watched.current().name == "first"
    assert json.loads((tmp_path / "s" / "state.json").read_text())["active"] == watched.sha


# -- rollback keeps what it leaves; pruning says what it removes --------------------


def test_rollback_keeps_the_model_it_leaves(tmp_path):
    st = ModelStore(tmp_path / "s")
    a, b = model_bytes("a"), model_bytes("b")
    sha_a, sha_b = hashlib.sha256(a).hexdigest(), hashlib.sha256(b).hexdigest()
    st.install(a)
    st.install(b)
    assert st.activate("a").name == "a"
    info = st.rollback()
    assert info.name == "b" and info.left == sha_a
    # Both files are still there, and the model left can be brought back by name.
    assert st.path_of(sha_a).read_bytes() == a and st.path_of(sha_b).read_bytes() == b
    roles = {m.record["name"]: m.role for m in st.list().models}
    assert roles == {"b": "active", "a": "rolled back from"}
    assert st.activate("a").name == "a"
    assert st.list().previous_sha256 == sha_b


def test_pruning_never_removes_the_active_or_previous_model_and_says_what_it_removes(tmp_path):
    st = ModelStore(tmp_path / "s", Limits(keep=0))
    shas = {}
    pruned = []
    for n in "abcd":
        data = model_bytes(n)
        shas[n] = hashlib.sha256(data).hexdigest()
        pruned += st.install(data).pruned
    # keep = 0 still keeps the model a rollback goes to.
    assert sorted(m.record["name"] for m in st.list().models) == ["c", "d"]
    assert [(p.name, p.sha256) for p in pruned] == [("a", shas["a"]), ("b", shas["b"])]
    assert all(not (tmp_path / "s" / "models" / f"{shas[n]}.onnx").exists() for n in "ab")
    assert st.rollback().name == "c"
    # The model rolled back from is kept through the next install when keep allows one.
    st2 = ModelStore(tmp_path / "s2", Limits(keep=1))
    for n in "xy":
        st2.install(model_bytes(n))
    st2.rollback()  # active x, y left
    out = st2.install(model_bytes("z"))
    assert out.pruned == ()
    assert sorted(m.role for m in st2.list().models) == [
        "active",
        "previous",
        "rolled back from",
    ]


def test_install_removes_files_of_a_killed_writer_and_says_so(tmp_path):
    st = ModelStore(tmp_path / "s")
    st.install(model_bytes("a"))
    stray = tmp_path / "s" / "models" / f".{'0' * 64}.onnx.tmp4242"
    stray.write_bytes(b"half a model")
    out = st.install(model_bytes("b"))
    assert not stray.exists()
    assert [p.path for p in out.pruned] == [str(stray)]


def test_state_json_never_names_a_path(tmp_path):
    st = ModelStore(tmp_path / "s")
    st.install(model_bytes("a"))
    (tmp_path / "s" / "state.json").write_text(json.dumps({"active": "../../etc/passwd"}))
    with pytest.raises(BadInput, match="state.json: active must be a sha256"):
        st.active_path()


# -- an older signed model pushed again ---------------------------------------------


def keypair(tmp_path, name="k"):
    from device.models.signing import load_private_key

    key = tmp_path / name
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    return load_private_key(key), parse_public_key((tmp_path / f"{name}.pub").read_text(), "t")


def test_signed_store_refuses_a_replaced_model_pushed_again(tmp_path):
    priv, pub = keypair(tmp_path)
    st = ModelStore(tmp_path / "s")
    v1, v2 = model_bytes("v1"), model_bytes("v2")
    st.install(v1, "v1.onnx", sign(v1, priv), [pub])
    st.install(v2, "v2.onnx", sign(v2, priv), [pub])
    before = (tmp_path / "s" / "state.json").read_bytes()
    with pytest.raises(BadInput, match="installed here before.*model activate") as e:
        st.install(v1, "standard input", sign(v1, priv), [pub])
    assert "v1" in str(e.value)
    assert (tmp_path / "s" / "state.json").read_bytes() == before
    # The active model pushed again (a playbook run twice) is fine and changes nothing.
    assert st.install(v2, "standard input", sign(v2, priv), [pub]).again is True
    assert st.active_sha() == hashlib.sha256(v2).hexdigest()
    # Going back is a decision taken at the bench: activate, rollback, or install --reinstall.
    assert st.rollback().name == "v1"
    st.activate("v2")
    info = st.install(v1, "v1.onnx", sign(v1, priv), [pub], reinstall=True)
    assert info.again is True and st.active_sha() == hashlib.sha256(v1).hexdigest()


def test_unsigned_store_takes_a_model_back(tmp_path):
    st = ModelStore(tmp_path / "s")
    v1, v2 = model_bytes("v1"), model_bytes("v2")
    st.install(v1)
    st.install(v2)
    assert st.install(v1).again is True
    assert st.active_sha() == hashlib.sha256(v1).hexdigest()


# -- the signature before anything runs; the smoke run stopped at its limit -----------

from tests.support import hostile_onnx  # noqa: E402


def smoke_children() -> list[int]:
    """Smoke-run processes still around that this test process started."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            cmd = (stat.parent / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == os.getpid() and b"device.models.smoke" in cmd:
            found.append(int(stat.parent.name))
    return found


def test_signed_store_checks_the_signature_before_anything_runs(tmp_path):
    priv, pub = keypair(tmp_path)
    other, _ = keypair(tmp_path, "other")
    st = ModelStore(tmp_path / "s")
    good = model_bytes("good")
    st.install(good, "good.onnx", sign(good, priv), [pub])
    before = (tmp_path / "s" / "state.json").read_bytes()
    loop = hostile_onnx.loop_model()  # run, it would never return
    for sig, why in [
        (None, "unsigned model"),
        (sign(loop, other), "does not match any trusted key"),
        (sign(loop, priv), "operator 'Loop'"),  # signed by a trusted key: refused unrun
    ]:
        t = time.monotonic()
        with pytest.raises(BadInput, match=why):
            st.install(loop, "loop.onnx", sig, [pub])
        assert time.monotonic() - t < 1.0
    assert (tmp_path / "s" / "state.json").read_bytes() == before


def test_smoke_run_is_stopped_at_its_time_limit(tmp_path):
    st = ModelStore(tmp_path / "s", Limits(smoke_budget_s=1.0))
    st.install(model_bytes("good"))
    before = st.state()
    t = time.monotonic()
    with pytest.raises(BadInput, match="did not finish within its budget of 1 s"):
        st.install(hostile_onnx.slow_model(), "slow.onnx")  # minutes of arithmetic
    took = time.monotonic() - t
    # 1 s of model time plus the child's start (imports), on a busy 2-core machine.
    assert took < 8.0, took
    assert smoke_children() == []
    assert st.state() == before
    assert len(list((tmp_path / "s" / "models").glob("*.onnx"))) == 1


def test_external_data_is_refused_at_install(tmp_path):
    data, weights = hostile_onnx.external_data_model("weights.bin")
    (tmp_path / "weights.bin").write_bytes(weights)
    st = ModelStore(tmp_path / "s")
    with pytest.raises(BadInput, match="keeps its data in an external file"):
        st.install(data, str(tmp_path / "m.onnx"))
    assert not (tmp_path / "s" / "state.json").exists()


def test_signed_only_store_activates_and_rolls_back_to_signed_models_only(tmp_path):
    priv, pub = keypair(tmp_path)
    _, other_pub = keypair(tmp_path, "other")
    st = ModelStore(tmp_path / "s")
    old, v1, v2 = model_bytes("old-unsigned"), model_bytes("v1"), model_bytes("v2")
    st.install(old)  # before the lab turned signatures on
    st.install(v1, "v1.onnx", sign(v1, priv), [pub])
    st.install(v2, "v2.onnx", sign(v2, priv), [pub])
    with pytest.raises(BadInput, match="'old-unsigned'.*installed without a signature"):
        st.activate("old-unsigned", [pub])
    assert st.rollback([pub]).name == "v1"  # signed: fine
    before = st.state()
    with pytest.raises(BadInput, match="installed without a signature"):
        st.rollback([pub])  # the next one back is the unsigned one
    assert st.state() == before
    # A key taken out of trusted_keys withdraws what it signed.
    with pytest.raises(BadInput, match="does not match any trusted key"):
        st.activate("v2", [other_pub])
    assert st.activate("v2", [pub]).name == "v2"


def test_the_benchs_own_rollback_goes_to_signed_models_only(tmp_path):
    priv, pub = keypair(tmp_path)
    st = ModelStore(tmp_path / "s")
    v2 = model_bytes("v2")
    st.install(model_bytes("old-unsigned"))
    st.install(v2, "v2.onnx", sign(v2, priv), [pub])
    watched = WatchedModel(st, trusted=[pub])
    ev = watched.failed(RuntimeError("boom"))
    # The unsigned previous model is not loaded: the bench keeps the one it had and says why.
    assert watched.current().name == "v2" and st.active_sha() == hashlib.sha256(v2).hexdigest()
    assert ev.data["error"] and "no rollback" in ev.data["message"]
    assert "installed without a signature" in ev.data["message"] and "kept v2" in ev.data["message"]


def test_a_store_the_user_cannot_write_is_a_clear_error(tmp_path):
    if os.geteuid() == 0:
        root = Path("/sys/scopecount-test")  # not even root may create folders in sysfs
    else:
        root = tmp_path / "ro"
        root.mkdir()
        root.chmod(0o500)
    with pytest.raises(BadInput, match="cannot lock the model store.*the user that owns it"):
        ModelStore(root / "store").install(model_bytes("a"))
