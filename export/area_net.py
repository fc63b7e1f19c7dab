"""The areas network: a depthwise-separable U-Net that scores every 4x4 cell of its input for
background and each class (logits at output stride 4; the bench interpolates the scores to the
frame and takes the best class per pixel: device/measuring/areas.py).

Tissue types are told apart by texture and by what surrounds them (a gland is epithelium round a
lumen), so the encoder goes one level deeper than the counting network's (to 1/32): a wider view
at little cost, since the deep levels are small.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from export.net import conv_bn, sep

OUTPUT_STRIDE = 4


def _up_add(deep: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
    return torch.cat([F.interpolate(deep, size=skip.shape[2:], mode="nearest"), skip], 1)


class AreaNet(nn.Module):
    """`width` channels at 1/4, x2 at 1/8, x3 at 1/16, x4 at 1/32; `n_out` = classes + 1."""

    arch = "areas-lite"
    output_stride = OUTPUT_STRIDE

    def __init__(self, n_out: int, width: int = 24) -> None:
        super().__init__()
        c1, c2, c3, c4 = width, 2 * width, 3 * width, 4 * width
        self.stem = conv_bn(3, c1, 4, 4)
        self.enc1 = nn.Sequential(sep(c1, c1), sep(c1, c1))  # 1/4
        self.enc2 = nn.Sequential(sep(c1, c2, 2), sep(c2, c2))  # 1/8
        self.enc3 = nn.Sequential(sep(c2, c3, 2), sep(c3, c3), sep(c3, c3))  # 1/16
        self.enc4 = nn.Sequential(sep(c3, c4, 2), sep(c4, c4), sep(c4, c4))  # 1/32
        self.up3 = nn.Sequential(conv_bn(c4 + c3, c3, 1, 1), sep(c3, c3))
        self.up2 = nn.Sequential(conv_bn(c3 + c2, c2, 1, 1), sep(c2, c2))
        self.up1 = nn.Sequential(conv_bn(c2 + c1, c1, 1, 1), sep(c1, c1))
        self.head = nn.Conv2d(c1, n_out, 1)
        self.n_out = n_out
        self.width = width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class scores at 1/4 resolution; input sides must be multiples of 32."""
        e1 = self.enc1(self.stem(x))
        e2 = self.enc2(e1)
        e3 = self.enc3(e2)
        e4 = self.enc4(e3)
        d3 = self.up3(_up_add(e4, e3))
        d2 = self.up2(_up_add(d3, e2))
        d1 = self.up1(_up_add(d2, e1))
        return self.head(d1)
