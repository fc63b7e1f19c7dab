"""durable: refusals and edge cases."""

import pytest

from device.core.durable import replace_file


def test_a_failed_rename_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "a.png"
    target.mkdir()
    with pytest.raises(OSError):
        replace_file(target, b"data")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png"]


class Recording:
    """os for durable.py, recording which path each fsync was for and each rename."""

    def __init__(self, real):
        self.real, self.fds, self.calls = real, {}, []

    def __getattr__(self, name):
        return getattr(self.real, name)

    def open(self, path, *args, **kw):
        fd = self.real.open(path, *args, **kw)
        self.fds[fd] = str(path)
        return fd

    def fsync(self, fd):
        self.calls.append(("fsync", self.fds.get(fd, "?")))
        return self.real.fsync(fd)

    def replace(self, src, dst):
        self.calls.append(("replace", str(dst)))
        return self.real.replace(src, dst)


def test_a_replaced_file_is_fsynced_under_its_new_name_then_its_folder(tmp_path, monkeypatch):
    """On FAT a rename leaves the new folder entry empty until the file's inode is written:
    the file is fsynced again after its rename (then the folder), or a cut loses it."""
    import os

    import device.core.durable as durable

    rec = Recording(os)
    monkeypatch.setattr(durable, "os", rec)
    target = tmp_path / "img.jpg"
    replace_file(target, b"jpeg")
    after = rec.calls[rec.calls.index(("replace", str(target))) :]
    assert after[1:] == [("fsync", str(target)), ("fsync", str(tmp_path))]
    assert target.read_bytes() == b"jpeg"


def test_a_tail_a_cut_left_unwritten_goes_back_to_the_last_whole_line(tmp_path):
    """FAT and exFAT can keep a file's new length without the sectors appended in it: the file
    ends in a newline after zeros. Only the lines after the last whole one go."""
    from device.core.durable import json_object_line, repair_torn_tail, text_line

    good = b'{"id": "a"}\n{"id": "b"}\n'
    path = tmp_path / "records.jsonl"
    path.write_bytes(good + b"\x00" * 40 + b'"sample": "c"}\n')
    assert repair_torn_tail(path, json_object_line)
    assert path.read_bytes() == good
    assert not repair_torn_tail(path, json_object_line)  # whole now: nothing to do
    path.write_bytes(good + b"\x00" * 10 + b"\n" + b'{"id": "half')  # and a torn end too
    assert repair_torn_tail(path, json_object_line) and path.read_bytes() == good
    rows = tmp_path / "points.csv"
    rows.write_bytes(b"image,x,y,label\na.jpg,1,2,egg\n\x00\x00,3,egg\n")
    assert repair_torn_tail(rows, text_line)
    assert rows.read_bytes() == b"image,x,y,label\na.jpg,1,2,egg\n"
    bad_middle = b'{"id": "a"}\nnot json\n{"id": "c"}\n'
    path.write_bytes(bad_middle)  # a bad line before a good one is not the tail: it stays
    assert not repair_torn_tail(path, json_object_line) and path.read_bytes() == bad_middle


def test_the_repair_never_cuts_inside_a_line_and_leaves_odd_files_alone(tmp_path):
    import os

    from device.core.durable import append_line, json_object_line, repair_torn_tail

    path = tmp_path / "records.jsonl"
    path.write_bytes(b'{"id": "a"}\n' + b"\x00" * (3 * 2**19))  # 1.5 MB without a newline
    assert repair_torn_tail(path, json_object_line)
    append_line(path, '{"id": "acked"}')
    assert not repair_torn_tail(path, json_object_line)
    assert path.read_bytes() == b'{"id": "a"}\n{"id": "acked"}\n'
    path.write_bytes(b'{"id": "a"}\n{"id": "saved by a script"}')  # whole, no newline
    assert repair_torn_tail(path, json_object_line)
    assert path.read_bytes().endswith(b'"saved by a script"}\n')
    assert not json_object_line(b"[" * 200000)  # too deep for json: not a line, no crash
    fifo = tmp_path / "fifo.jsonl"
    os.mkfifo(fifo)
    (tmp_path / "dir.jsonl").mkdir()
    (tmp_path / "link.jsonl").symlink_to(path)
    for odd in ("fifo.jsonl", "dir.jsonl", "link.jsonl"):
        assert not repair_torn_tail(tmp_path / odd, json_object_line)
    assert path.read_bytes().endswith(b'"saved by a script"}\n')


def test_a_link_planted_at_a_temporary_name_is_never_written_through(tmp_path, monkeypatch):
    import os

    from device.core import durable

    victim = tmp_path / "victim.txt"
    victim.write_text("keep")
    # the old, guessable name: ignored now
    (tmp_path / f".a.png.tmp{os.getpid()}").symlink_to(victim)
    durable.replace_file(tmp_path / "a.png", b"new")
    assert victim.read_text() == "keep" and (tmp_path / "a.png").read_bytes() == b"new"
    # a name guessed exactly: refused, not followed
    monkeypatch.setattr(durable.secrets, "token_hex", lambda n: "abcd1234")
    (tmp_path / f".b.png.tmp{os.getpid()}.abcd1234").symlink_to(victim)
    with pytest.raises(FileExistsError):
        durable.replace_file(tmp_path / "b.png", b"new")
    assert victim.read_text() == "keep" and not (tmp_path / "b.png").exists()
