"""Every number in the config has a range, the bench name is one short word, and a config path
that is not a small regular file is refused at once (through `scopecount config check`)."""

import os
import time

import pytest

from device.config import Config, from_dict
from device.core.errors import BadInput
from tests.conftest import run_cli

CASES = [
    ("[camera]\nwidth = -640\n", "[camera] width = -640"),
    ("[camera]\nheight = 99999999\n", "[camera] height"),
    ("[camera]\nexposure_us = -1\n", "[camera] exposure_us"),
    ("[camera]\ngain = nan\n", "[camera] gain = nan"),
    ("[camera]\ngain = inf\n", "[camera] gain = inf"),
    ("[camera]\nawb_gains = [1.5, inf]\n", "[camera] awb_gains"),
    ("[camera]\nawb_gains = [-1.0, 1.0]\n", "[camera] awb_gains"),
    ("[storage]\nmin_free_mb = -5\n", "[storage] min_free_mb = -5"),
    ("[storage]\nwarn_free_mb = -5\n", "[storage] warn_free_mb"),
    ("[quality]\nfocus_min = -inf\n", "[quality] focus_min"),
    ("[quality]\ndark_max = 2.0\n", "[quality] dark_max"),
    ("[quality]\nbright_max = nan\n", "[quality] bright_max"),
    ("[quality]\nempty_std = -1.0\n", "[quality] empty_std"),
    ("[light]\ncapture = nan\n", "[light] capture = nan"),
    ("[model]\nsmoke_budget_s = inf\n", "[model] smoke_budget_s"),
    ('[bench]\nname = ""\n', "[bench] name"),
    ('[bench]\nname = "lab\\nbench"\n', "[bench] name"),
    ('[bench]\nname = "../../etc"\n', "[bench] name"),
    ('[bench]\nname = "a b"\n', "[bench] name"),
    ('[bench]\nname = "\\u001b[31mred"\n', "[bench] name"),
    (f'[bench]\nname = "{"x" * 33}"\n', "[bench] name"),
]


@pytest.mark.parametrize("text, expected", CASES, ids=[c[1] + str(i) for i, c in enumerate(CASES)])
def test_out_of_range_values_are_refused_in_one_line(tmp_path, text, expected):
    bad = tmp_path / "bad.toml"
    bad.write_text(text)
    proc = run_cli("config", "check", "--config", str(bad))
    err = proc.stderr.decode().strip()
    assert proc.returncode == 2, (proc.stdout, err)
    assert len(err.splitlines()) == 1 and str(bad) in err and expected in err, err


def test_good_names_and_numbers_pass():
    cfg = from_dict({"bench": {"name": "lab2-scope_A.1"}, "camera": {"gain": 2.0}}, "x")
    assert cfg.bench.name == "lab2-scope_A.1"
    assert Config().bench.name == "bench"
    with pytest.raises(BadInput):
        from_dict({"camera": {"awb_gains": [float("nan"), 1.0]}}, "x")


@pytest.mark.parametrize("path", ["/dev/zero", "/dev/urandom", "FIFO", "DIR", "HUGE"])
def test_a_config_that_is_not_a_small_regular_file_is_refused_fast(tmp_path, path):
    if path == "FIFO":
        path = str(tmp_path / "fifo")
        os.mkfifo(path)  # nobody writes: a plain open() would wait forever
    elif path == "DIR":
        path = str(tmp_path)
    elif path == "HUGE":
        path = str(tmp_path / "huge.toml")
        with open(path, "wb") as f:
            f.truncate(2 * 1024**3)  # sparse: 2 GiB of nothing
    t0 = time.monotonic()
    proc = run_cli("config", "check", "--config", path, timeout=30)
    took = time.monotonic() - t0
    err = proc.stderr.decode().strip()
    assert proc.returncode == 2, err
    assert len(err.splitlines()) == 1 and path in err, err
    assert took < 10
