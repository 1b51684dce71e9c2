"""The heatmap codec as a choice: one name (``msra``, ``dark``, ``udp``) → one codec object.

Training targets, validation, search, ``vipnas eval`` and BN recalibration all get their codec here, so that the
name recorded with a model (``model.metadata.codec``) means the same encoding, decoding and crop affine
everywhere:

============ ====================================== =============================================== ============
name         encoding                               decoding                                        crop affine
============ ====================================== =============================================== ============
``msra``     Gaussian at the rounded pixel          argmax + quarter-pixel offset                   standard
``dark``     Gaussian at the exact sub-pixel point  argmax + DARK (blur, log, Taylor step)          standard
``udp``      sub-pixel Gaussian, UDP pixel grid     argmax + UDP's DARK step                        UDP
============ ====================================== =============================================== ============

``msra`` is the official S-ViPNAS recipe (MMPose ``MSRAHeatmap``). At small heatmaps its rounding costs accuracy
(``benchmarks/eval_codec_oracle.py``: the AP of decode(encode(ground truth))), which ``dark`` and ``udp`` avoid.
"""

from __future__ import annotations

from typing import Any

from vipnas.codec.heatmap import MSRAHeatmap, UDPHeatmap

__all__ = ["CODECS", "build_codec", "check_codec_name", "codec_for_model", "dark_kernel_size"]

CODECS = ("msra", "dark", "udp")


def check_codec_name(name: str, key: str = "codec") -> str:
    """``name`` if it is one of :data:`CODECS`; otherwise a ``ValueError`` naming ``key``, the value and the set."""
    if name not in CODECS:
        raise ValueError(f"{key} must be one of {', '.join(repr(c) for c in CODECS)}; got {name!r}")
    return name


def dark_kernel_size(sigma: float) -> int:
    """DARK's modulation kernel for targets of σ ``sigma``: odd, 2·round(3σ) - 1 (MMPose: σ=2 ↔ 11, σ=3 ↔ 17);
    ``cv2.GaussianBlur`` derives the kernel's own σ from its size (11 → 2.0, 17 → 2.9)."""
    return max(3, 2 * int(3 * float(sigma) + 0.5) - 1)


def build_codec(
    name: str, *, input_size: tuple[int, int], heatmap_size: tuple[int, int], sigma: float = 2.0
) -> MSRAHeatmap | UDPHeatmap:
    """The codec called ``name``.

    Args:
        name: ``msra``, ``dark`` or ``udp`` (see the module docstring).
        input_size: network input (W, H) in pixels.
        heatmap_size: heatmap (W, H).
        sigma: target Gaussian σ in heatmap pixels (also sizes the DARK/UDP modulation kernel).

    Raises:
        ValueError: an unknown name (names the allowed set), or bad sizes / σ.
    """
    check_codec_name(name)
    kernel = dark_kernel_size(sigma)
    if name == "udp":
        return UDPHeatmap(input_size, heatmap_size, sigma=sigma, blur_kernel_size=kernel)
    return MSRAHeatmap(input_size, heatmap_size, sigma=sigma, unbiased=name == "dark", blur_kernel_size=kernel)


def codec_for_model(metadata: Any, name: str | None = None, *, sigma: float | None = None) -> MSRAHeatmap | UDPHeatmap:
    """The codec of a model: sizes from its ``ModelMetadata`` (``input_size`` (h, w), ``heatmap_stride``), name and
    σ from the arguments or else from what the metadata recorded (``codec``, ``sigma``; ``msra`` and 2 if absent)."""
    height, width = metadata.input_size
    stride = metadata.heatmap_stride
    return build_codec(
        name if name is not None else getattr(metadata, "codec", "msra"),
        input_size=(width, height),
        heatmap_size=(width // stride, height // stride),
        sigma=sigma if sigma is not None else getattr(metadata, "sigma", 2.0),
    )
