import pytest

from device.core.errors import BadInput
from device.core.writable import writable_dir, writable_file


def test_writable_dir_creates_and_probes(tmp_path):
    assert writable_dir(tmp_path / "a" / "b", "--x").is_dir()
    assert list((tmp_path / "a" / "b").iterdir()) == []  # the probe file is gone


def test_writable_dir_refuses(tmp_path):
    f = tmp_path / "f"
    f.write_text("x")
    with pytest.raises(BadInput, match="--spool .*f: exists and is not a folder"):
        writable_dir(f, "--spool")
    with pytest.raises(BadInput, match="--spool .*cannot create"):
        writable_dir(f / "sub", "--spool")
    with pytest.raises(BadInput, match="--storage .*no such folder"):
        writable_dir(tmp_path / "typo", "--storage", create=False)
    with pytest.raises(BadInput, match="not writable"):
        writable_dir("/proc", "--overlay")  # not even root can create files here


def test_writable_file(tmp_path):
    assert writable_file(tmp_path / "out.csv", "--csv") == tmp_path / "out.csv"
    with pytest.raises(BadInput, match="--csv .*is a folder"):
        writable_file(tmp_path, "--csv")
    with pytest.raises(BadInput, match="--csv .*does not exist"):
        writable_file(tmp_path / "no" / "out.csv", "--csv")
    with pytest.raises(BadInput, match="--out /proc/m.onnx: not writable"):
        writable_file("/proc/m.onnx", "--out")
