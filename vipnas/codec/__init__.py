"""Heatmap codecs: training targets from keypoints and keypoints from heatmaps, in numpy alone (no torch).

``MSRAHeatmap`` (default and DARK/unbiased) and ``UDPHeatmap`` own both directions; the decoding steps are also
available as functions over (..., H, W) arrays for batched use.
"""

from vipnas.codec.gaussian import gaussian_heatmaps
from vipnas.codec.heatmap import MSRAHeatmap, UDPHeatmap
from vipnas.codec.refine import (
    gaussian_kernel_1d,
    get_heatmap_maximum,
    modulate_heatmaps,
    refine_dark,
    refine_dark_udp,
    refine_quarter_offset,
)

__all__ = [
    "MSRAHeatmap",
    "UDPHeatmap",
    "gaussian_heatmaps",
    "gaussian_kernel_1d",
    "get_heatmap_maximum",
    "modulate_heatmaps",
    "refine_dark",
    "refine_dark_udp",
    "refine_quarter_offset",
]
