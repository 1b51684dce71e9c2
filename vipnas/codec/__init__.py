"""Heatmap codecs: training targets from keypoints and keypoints from heatmaps, in numpy alone (no torch).

``MSRAHeatmap`` (default and DARK/unbiased) and ``UDPHeatmap`` own both directions; the decoding steps are also
available as functions over (..., H, W) arrays for batched use. :func:`build_codec` maps a codec's name (``msra``,
``dark``, ``udp``: ``data.codec`` of a config, ``metadata.codec`` of a model) to its object.
"""

from vipnas.codec.build import CODECS, build_codec, check_codec_name, codec_for_model, dark_kernel_size
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
    "CODECS",
    "MSRAHeatmap",
    "UDPHeatmap",
    "build_codec",
    "check_codec_name",
    "codec_for_model",
    "dark_kernel_size",
    "gaussian_heatmaps",
    "gaussian_kernel_1d",
    "get_heatmap_maximum",
    "modulate_heatmaps",
    "refine_dark",
    "refine_dark_udp",
    "refine_quarter_offset",
]
