"""The counting networks: small U-Nets that predict a density map at output stride 4.

Two designs share one interface (`n_classes`, `arch`, `width`, `output_stride`):
- `unet`: full 3x3 convolutions behind a stride-4 stem (the shipped demo model's design).
- `lite`: a 4x4 stride-4 stem (each 4x4 patch of the image mixed into `width` channels), then
  depthwise-separable blocks (a 3x3 per-channel conv, then a 1x1 mix), the same resolutions, a
  fifth to a half of the MACs per input pixel; the MACs saved buy a larger input scale within
  the Pi budget, and resolution is what crowded small cells need.
The sum of the density over an area is the number of objects in it.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

OUTPUT_STRIDE = 4
# Densities are small numbers (a fraction of an object per output pixel); the network predicts
# them multiplied by this so that its last layer works at a comfortable scale.
DENSITY_GAIN = 100.0
ARCHS = ("lite", "unet")


def conv_bn(cin: int, cout: int, stride: int = 1, k: int = 3, groups: int = 1) -> nn.Sequential:
    pad = k // 2 if k % 2 else 0  # an even kernel is a patch step (k == stride): no padding
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, stride=stride, padding=pad, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


def sep(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    """Depthwise-separable block: spatial filtering per channel, then a 1x1 channel mix."""
    return nn.Sequential(conv_bn(cin, cin, stride, 3, cin), conv_bn(cin, cout, 1, 1))


def _up_cat(deep: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
    return torch.cat([F.interpolate(deep, scale_factor=2.0, mode="nearest"), skip], 1)


class CountNet(nn.Module):
    arch = "unet"
    output_stride = OUTPUT_STRIDE

    def __init__(self, n_classes: int = 1, width: int = 16) -> None:
        super().__init__()
        w = width
        self.stem = nn.Sequential(conv_bn(3, w, 2), conv_bn(w, 2 * w, 2))  # 1/4
        self.enc1 = conv_bn(2 * w, 2 * w)
        self.down2 = nn.Sequential(conv_bn(2 * w, 3 * w, 2), conv_bn(3 * w, 3 * w))  # 1/8
        self.down3 = nn.Sequential(conv_bn(3 * w, 4 * w, 2), conv_bn(4 * w, 4 * w))  # 1/16
        self.up2 = conv_bn(4 * w + 3 * w, 3 * w)
        self.up1 = conv_bn(3 * w + 2 * w, 2 * w)
        self.head = nn.Conv2d(2 * w, n_classes, 1)
        self.n_classes = n_classes
        self.width = width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Density * DENSITY_GAIN at 1/4 resolution; input sides must be multiples of 16."""
        e1 = self.enc1(self.stem(x))
        e2 = self.down2(e1)
        e3 = self.down3(e2)
        d2 = self.up2(_up_cat(e3, e2))
        d1 = self.up1(_up_cat(d2, e1))
        return F.relu(self.head(d1))


class LiteNet(nn.Module):
    """Depthwise-separable U-Net; `width` is the channel count at 1/4 (x2 at 1/8, x3 at 1/16)."""

    arch = "lite"
    output_stride = OUTPUT_STRIDE

    def __init__(self, n_classes: int = 1, width: int = 32) -> None:
        super().__init__()
        c1, c2, c3 = width, 2 * width, 3 * width
        # Straight to 1/4 in one non-overlapping step: a 3x3 convolution on 3 channels at 1/2
        # (the stem before) took a third of the frame time for an eighth of the MACs, and on
        # validation splits this stem counted no worse (device/measuring/pi_cost.py has the
        # figures).
        self.stem = conv_bn(3, c1, 4, 4)
        self.enc1 = nn.Sequential(sep(c1, c1), sep(c1, c1), sep(c1, c1))  # 1/4
        self.enc2 = nn.Sequential(sep(c1, c2, 2), sep(c2, c2), sep(c2, c2))  # 1/8
        self.enc3 = nn.Sequential(sep(c2, c3, 2), sep(c3, c3), sep(c3, c3))  # 1/16
        self.up2 = nn.Sequential(conv_bn(c3 + c2, c2, 1, 1), sep(c2, c2))
        self.up1 = nn.Sequential(conv_bn(c2 + c1, c1, 1, 1), sep(c1, c1))
        self.head = nn.Conv2d(c1, n_classes, 1)
        self.n_classes = n_classes
        self.width = width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e1 = self.enc1(self.stem(x))
        e2 = self.enc2(e1)
        e3 = self.enc3(e2)
        d2 = self.up2(_up_cat(e3, e2))
        d1 = self.up1(_up_cat(d2, e1))
        return F.relu(self.head(d1))


def build_net(arch: str, n_classes: int, width: int) -> nn.Module:
    if arch == "lite":
        return LiteNet(n_classes, width)
    if arch == "unet":
        return CountNet(n_classes, width)
    raise ValueError(f"unknown network {arch!r}: expected one of {', '.join(ARCHS)}")


class ExportWrapper(nn.Module):
    """What goes into the ONNX file: the density itself, not the scaled training output."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x) * (1.0 / DENSITY_GAIN)


def count_macs(net: nn.Module, height: int, width: int) -> int:
    """Multiply-accumulates of one forward pass at this input size (convolutions only)."""
    macs = 0

    def hook(mod: nn.Module, _inp: tuple, out: torch.Tensor) -> None:
        nonlocal macs
        assert isinstance(mod, nn.Conv2d)
        k = mod.kernel_size[0] * mod.kernel_size[1] * (mod.in_channels // mod.groups)
        macs += int(out.numel() // out.shape[0]) * k

    handles = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, nn.Conv2d)]
    was_training = net.training
    net.eval()
    with torch.no_grad():
        net(torch.zeros(1, 3, height, width))
    net.train(was_training)
    for h in handles:
        h.remove()
    return macs
