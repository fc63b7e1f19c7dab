"""The dm-log-writes reader and replay `make pi-crash` uses, on logs written here in the
kernel's format."""

import struct

import pytest

from tests.pi.logwrites import (
    DISCARD,
    FLUSH,
    FUA,
    MAGIC,
    MARK,
    CrashState,
    LogError,
    Replayer,
    crash_states,
    epochs,
    read_log,
    replay,
)

S = 512


def write_log(path, entries):
    """entries: (sector, flags, data bytes or mark text); the super block counts them all."""
    out = bytearray(S)
    for sector, flags, payload in entries:
        head = bytearray(S)
        if flags & MARK:
            text = payload.encode()
            head[:32] = struct.pack("<QQQQ", 0, 0, flags, len(text))
            head[32 : 32 + len(text)] = text
            out += head
            continue
        n = 0 if flags & DISCARD else len(payload) // S
        n = payload if flags & DISCARD else n
        head[:32] = struct.pack("<QQQQ", sector, n, flags, 0)
        out += head
        if not flags & DISCARD:
            out += payload
    out[:28] = struct.pack("<QQQI", MAGIC, 1, len(entries), S)
    path.write_bytes(bytes(out))


def block(byte, n=1):
    return bytes([byte]) * (S * n)


@pytest.fixture
def log(tmp_path):
    path = tmp_path / "log.img"
    write_log(
        path,
        [
            (0, 0, block(1)),  # 0
            (1, 0, block(2, 2)),  # 1
            (0, FLUSH, b""),  # 2: barrier
            (0, MARK, "ack 1"),  # 3
            (3, 0, block(3)),  # 4
            (0, 0, block(4)),  # 5: overwrites sector 0
            (0, FLUSH, b""),  # 6: barrier
            (3, FUA, block(5)),  # 7: barrier
            (0, MARK, "ack 2"),  # 8
            (1, DISCARD, 2),  # 9
        ],
    )
    return read_log(path)


def test_entries_are_read_with_their_data_and_marks(log):
    assert len(log.entries) == 10
    assert [e.mark for e in log.marks()] == ["ack 1", "ack 2"]
    assert log.entries[1].nr_sectors == 2 and log.entries[1].is_write
    assert log.entries[2].is_barrier and not log.entries[2].is_write
    assert log.entries[7].is_barrier and log.entries[7].is_write
    assert not log.entries[9].is_write


def test_epochs_end_at_each_flush_or_fua(log):
    assert epochs(log) == [(0, 3), (3, 7), (7, 8), (8, 10)]


def test_a_replayed_state_holds_the_writes_in_log_order(tmp_path, log):
    base = tmp_path / "base.img"
    base.write_bytes(bytes(S * 4))
    out = tmp_path / "out.img"
    replay(log, base, CrashState("all", (0, 1, 4, 5, 7, 9), 10), out)
    data = out.read_bytes()
    assert data[:S] == block(4)  # the later write to sector 0 wins
    assert data[S : 3 * S] == bytes(2 * S)  # discarded: zeros
    assert data[3 * S :] == block(5)
    replay(log, base, CrashState("first", (0, 1), 3), out)
    assert out.read_bytes() == block(1) + block(2, 2) + bytes(S)


def test_every_barrier_is_a_state_and_subsets_never_drop_flushed_writes(log):
    states = list(crash_states(log, seed=1, subsets=4, prefixes=2))
    flushes = [s for s in states if s.name.startswith("flush")]
    assert [s.after for s in flushes] == [3, 7, 8]
    assert flushes[1].applied == (0, 1, 4, 5)
    for s in states:
        if s.after > 3:  # past the first flush: its writes are always there
            assert {0, 1} <= set(s.applied)
    # "ack 2" came after the FUA at 7: every state holding that FUA whole must honour it, even
    # the one cut at the FUA itself (before the mark: the mark is late, the record was not)
    assert flushes[-1].acknowledged(log) == ["ack 1", "ack 2"]
    inside = [s for s in states if s.name.startswith(("subset", "prefix")) and s.durable == 2]
    assert inside and all(s.acknowledged(log) == ["ack 1"] for s in inside)
    assert CrashState("x", (), 0, -1).acknowledged(log) == []
    last = [s for s in states if s.after == 10]
    assert last and all(s.acknowledged(log) == ["ack 1", "ack 2"] for s in last)
    assert states[-1].name == "end of the log" or any(s.name == "end of the log" for s in last)
    assert CrashState("x", (), 4).acknowledged(log) == ["ack 1"]
    assert CrashState("x", (), 0, 2).acknowledged(log) == ["ack 1"]  # it holds the flush at 2
    seeded = [s.applied for s in crash_states(log, seed=1, subsets=4, prefixes=2)]
    assert seeded == [s.applied for s in states]  # the same seed, the same states


def test_a_log_that_is_not_one_or_is_cut_short_is_refused(tmp_path, log):
    bad = tmp_path / "bad.img"
    bad.write_bytes(bytes(S))
    with pytest.raises(LogError, match="not a dm-log-writes log"):
        read_log(bad)
    cut = tmp_path / "cut.img"
    cut.write_bytes(log.path.read_bytes()[: S * 3])
    with pytest.raises(LogError, match="cut short|past the end"):
        read_log(cut)


def test_the_replayer_builds_every_state_as_replay_does(tmp_path, log):
    base = tmp_path / "base.img"
    base.write_bytes(bytes(S * 4))
    (tmp_path / "w").mkdir()
    fast = Replayer(log, base, tmp_path / "w")
    for state in crash_states(log, seed=3, subsets=3, prefixes=2):
        fast.build(state, tmp_path / "a.img")
        replay(log, base, state, tmp_path / "b.img")
        assert (tmp_path / "a.img").read_bytes() == (tmp_path / "b.img").read_bytes(), state
