"""The header's gpiochip found by its label on every numbering a Pi has had (fake /dev trees:
files and links, with the labels the kernel reports for each)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from device.bench.assembly import gpio_factory
from device.config import from_dict
from device.core.errors import BadInput
from device.hardware.gpiochip import (
    GPIO_GET_CHIPINFO_IOCTL,
    GpioChip,
    board_of,
    choose_chip,
    read_chips,
)

PI5_AON = ("gpio-brcmstb@107d508500", 32)
PI5_AON2 = ("gpio-brcmstb@107d517c00", 4)
RP1 = ("pinctrl-rp1", 54)
TREES = {
    # name: ({/dev name: (label, lines) or "->target"}, the chip auto must pick)
    "pi5 kernel 6.6 before .45: RP1 at gpiochip4": (
        {"gpiochip0": PI5_AON, "gpiochip1": PI5_AON2, "gpiochip4": RP1}, 4),
    "pi5 kernel 6.6.45+: RP1 at gpiochip0, no link": (
        {"gpiochip0": RP1, "gpiochip10": PI5_AON, "gpiochip11": PI5_AON2}, 0),
    "pi5 kernel 6.6.45+: RP1 at gpiochip0, Pi OS's gpiochip4 link": (
        {"gpiochip0": RP1, "gpiochip4": "->gpiochip0", "gpiochip10": PI5_AON}, 0),
    "pi5 later kernel: RP1 at gpiochip10, a gpiochip4 that is not it": (
        {"gpiochip0": PI5_AON, "gpiochip4": PI5_AON2, "gpiochip10": RP1}, 10),
    "pi5 later kernel: RP1 at gpiochip13 and up": (
        {"gpiochip0": PI5_AON, "gpiochip13": RP1}, 13),
    "pi4": ({"gpiochip0": ("pinctrl-bcm2711", 58), "gpiochip1": ("raspberrypi-exp-gpio", 8)}, 0),
    "zero 2 w": (
        {"gpiochip0": ("pinctrl-bcm2835", 54), "gpiochip1": ("raspberrypi-exp-gpio", 8)}, 0),
    "emulated (qemu virt)": ({"gpiochip0": ("9030000.pl061", 8)}, 0),
}  # fmt: skip


def fake_dev(tmp: Path, tree: dict) -> tuple[Path, dict[str, tuple[str, int]]]:
    dev = tmp / "dev"
    dev.mkdir()
    labels = {}
    for name, what in tree.items():
        if isinstance(what, str):
            os.symlink(what[2:], dev / name)
        else:
            (dev / name).touch()
            labels[str((dev / name).resolve())] = what
    (dev / "gpiochipX").touch()  # not a chip name
    os.symlink("gpiochip99", dev / "gpiochip98")  # dangling
    return dev, labels


@pytest.mark.parametrize("case", sorted(TREES))
def test_auto_finds_the_header_by_label(tmp_path, case):
    tree, want = TREES[case]
    dev, labels = fake_dev(tmp_path, tree)
    chips = read_chips(dev, info=lambda p: labels[str(p)])
    chosen = choose_chip(chips, "auto")
    assert chosen.number == want
    assert board_of(chosen) is not None
    # named in the config by number, path or label: the same chip
    assert choose_chip(chips, str(want)).number == want
    assert choose_chip(chips, f"/dev/gpiochip{want}").number == want
    assert choose_chip(chips, chosen.label).number == want


def test_linked_names_are_one_chip(tmp_path):
    dev, labels = fake_dev(
        tmp_path, TREES["pi5 kernel 6.6.45+: RP1 at gpiochip0, Pi OS's gpiochip4 link"][0]
    )
    chips = read_chips(dev, info=lambda p: labels[str(p)])
    rp1 = [c for c in chips if c.label == "pinctrl-rp1"]
    assert len(rp1) == 1 and rp1[0].names == ("gpiochip0", "gpiochip4")
    assert choose_chip(chips, "4").number == 0  # the old name still reaches it
    assert "also gpiochip4" in rp1[0].describe()


def test_no_known_controller_or_a_wrong_name_is_one_line_naming_what_is_there():
    chips = [GpioChip(0, "some-expander", 16, ("gpiochip0",))]
    with pytest.raises(BadInput, match=r"no Raspberry Pi GPIO controller.*some-expander"):
        choose_chip(chips, "auto")
    with pytest.raises(BadInput, match=r"'7': no such gpiochip.*gpiochip0 \[some-expander\]"):
        choose_chip(chips, "7")
    with pytest.raises(BadInput, match="no /dev/gpiochip"):
        choose_chip([], "auto")


def test_config_takes_a_chip_and_refuses_junk(tmp_path):
    assert from_dict({"gpio": {"chip": "pinctrl-rp1"}}, "c.toml").gpio.chip == "pinctrl-rp1"
    assert from_dict({"gpio": {"chip": 4}}, "c.toml").gpio.chip == "4"
    assert from_dict({}, "c.toml").gpio.chip == "auto"
    with pytest.raises(BadInput, match=r"c.toml: \[gpio\] chip"):
        from_dict({"gpio": {"chip": "a\nb"}}, "c.toml")


def test_the_ioctl_number_is_linux_gpio_get_chipinfo():
    assert GPIO_GET_CHIPINFO_IOCTL == 0x8044B401  # _IOR(0xB4, 0x01, struct gpiochip_info)


def test_no_chips_is_one_line_with_the_sim_hint(tmp_path):
    (tmp_path / "dev").mkdir()
    with pytest.raises(BadInput, match=r"no /dev/gpiochip.*scopecount run --sim"):
        gpio_factory("auto", tmp_path / "dev")
