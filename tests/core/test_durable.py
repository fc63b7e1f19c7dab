"""durable: refusals and edge cases."""

import pytest

from device.core.durable import replace_file


def test_a_failed_rename_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "a.png"
    target.mkdir()
    with pytest.raises(OSError):
        replace_file(target, b"data")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png"]
