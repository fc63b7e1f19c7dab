"""The counting network: a small U-Net behind a stride-4 stem that predicts a density map.

The stem (two stride-2 convolutions) makes the network cheap on large camera frames; the U-Net
works at 1/4, 1/8 and 1/16 and the density comes out at 1/4 (output stride 4). The sum of the
density over an area is the number of objects in it.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

OUTPUT_STRIDE = 4
# Densities are small numbers (a fraction of an object per output pixel); the network predicts
# them multiplied by this so that its last layer works at a comfortable scale.
DENSITY_GAIN = 100.0


def conv_bn(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class CountNet(nn.Module):
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
        d2 = self.up2(torch.cat([F.interpolate(e3, scale_factor=2.0, mode="nearest"), e2], 1))
        d1 = self.up1(torch.cat([F.interpolate(d2, scale_factor=2.0, mode="nearest"), e1], 1))
        return F.relu(self.head(d1))


class ExportWrapper(nn.Module):
    """What goes into the ONNX file: the density itself, not the scaled training output."""

    def __init__(self, net: CountNet) -> None:
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
