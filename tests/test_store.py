import hashlib
import json
import subprocess

import pytest

from device.errors import BadInput
from device.signing import parse_public_key, sign
from device.store import Limits, ModelStore, WatchedModel
from tests import onnx_fixtures


def model_bytes(name: str, classes=("egg",)) -> bytes:
    meta = onnx_fixtures.metadata(list(classes), **{"scopecount.name": name})
    return onnx_fixtures.bright_spot_model(list(classes), meta=meta)


def test_install_list_activate_rollback(tmp_path):
    st = ModelStore(tmp_path / "store")
    a, b = model_bytes("a"), model_bytes("b")
    st.install(a)
    st.install(b)
    listing = st.list()
    assert listing["active_sha256"] == hashlib.sha256(b).hexdigest()
    assert {m["name"] for m in listing["models"]} == {"a", "b"}
    assert st.activate("a")["name"] == "a"
    assert st.active_sha() == hashlib.sha256(a).hexdigest()
    assert st.rollback()["name"] == "b"
    with pytest.raises(BadInput, match="no such model"):
        st.activate("zzz")


def test_keeps_only_configured_history(tmp_path):
    st = ModelStore(tmp_path / "s", Limits(keep=1))
    for n in "abc":
        st.install(model_bytes(n))
    names = sorted(m["name"] for m in st.list()["models"])
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
    from device.signing import load_private_key

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
    with pytest.raises(BadInput, match="does not match"):
        st.install(altered, signature=sign(data, load_private_key(key)), trusted=trusted)
    info = st.install(data, signature=sign(data, load_private_key(key)), trusted=trusted)
    assert info["signed"] is True and st.list()["models"][0]["name"] == "signed"


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
