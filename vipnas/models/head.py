"""The deconvolution heatmap head (SimpleBaseline; ViPNAS makes its group number searchable).

Three stride-2 transposed convolutions (no bias) each followed by BN and ReLU, then a 1x1 convolution with
bias to K heatmaps: stride-32 features become stride-4 heatmaps (64x48 for a 256x192 input). Children are
named as in MMPose's ``ViPNASHead``: ``deconv_layers`` (a Sequential of deconv, BN, ReLU triples) and
``final_layer``.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["DeconvHead", "deconv_padding"]


def deconv_padding(kernel_size: int) -> tuple[int, int]:
    """(padding, output_padding) of a stride-2 deconvolution that exactly doubles the resolution."""
    table = {4: (1, 0), 3: (1, 1), 2: (0, 0)}
    if kernel_size not in table:
        raise ValueError(f"deconvolution kernel size {kernel_size} is not supported; expected one of {sorted(table)}")
    return table[kernel_size]


class DeconvHead(nn.Module):
    """Deconvolution head.

    Args:
        in_channels: channels of the backbone's last feature map.
        width: filters of each deconvolution.
        kernel_size: deconvolution kernel size (4 in both ViPNAS spaces; 2 also doubles the resolution).
        groups: group number of each deconvolution.
        num_joints: heatmaps produced (K).
        num_layers: number of deconvolutions (3: stride 32 -> 4).
    """

    def __init__(
        self, *, in_channels: int, width: int, kernel_size: int, groups: int, num_joints: int, num_layers: int = 3
    ) -> None:
        super().__init__()
        padding, output_padding = deconv_padding(kernel_size)
        layers: list[nn.Module] = []
        for _ in range(num_layers):
            layers += [
                nn.ConvTranspose2d(
                    in_channels, width, kernel_size, 2, padding, output_padding, groups=groups, bias=False
                ),
                nn.BatchNorm2d(width),
                nn.ReLU(inplace=True),
            ]
            in_channels = width
        self.deconv_layers = nn.Sequential(*layers)
        self.final_layer = nn.Conv2d(width, num_joints, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H/32, W/32) features -> (N, K, H/4, W/4) heatmaps."""
        return self.final_layer(self.deconv_layers(x))
