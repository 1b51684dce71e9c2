"""Heatmap codec: decoding speed, round-trip accuracy, and (optionally) equality with MMPose's codec functions.

    python benchmarks/eval_codec.py                        # speed and decode(encode(x)) error
    python benchmarks/eval_codec.py --mmpose /path/mmpose  # plus a comparison with an MMPose checkout

The MMPose comparison imports ``mmpose/codecs/utils/{gaussian_heatmap,post_processing,refinement}.py`` from the
checkout by path (MMPose itself need not be installed; torch and OpenCV are) and reports where the two differ:
they should differ only where vipnas documents a deviation (rounding of negative coordinates, the off-by-one
weight rule, the quarter-offset border condition).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import timeit
import types
from collections.abc import Callable
from pathlib import Path

import numpy as np

from vipnas.codec import MSRAHeatmap, UDPHeatmap

INPUT, HEATMAP = (192, 256), (48, 64)


def _load_mmpose_utils(root: Path) -> types.SimpleNamespace:
    package = types.ModuleType("mmcodec")
    package.__path__ = []  # a namespace so that the files' relative imports resolve
    sys.modules["mmcodec"] = package
    modules = {}
    for name in ("post_processing", "gaussian_heatmap", "refinement"):
        path = root / "mmpose" / "codecs" / "utils" / f"{name}.py"
        spec = importlib.util.spec_from_file_location(f"mmcodec.{name}", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[f"mmcodec.{name}"] = module
        spec.loader.exec_module(module)
        modules[name] = module
    return types.SimpleNamespace(**modules)


def compare_with_mmpose(root: Path, count: int = 2000) -> None:
    mm = _load_mmpose_utils(root)
    rng = np.random.default_rng(0)
    keypoints = rng.uniform([0, 0], INPUT, size=(count, 2))  # on the map: where the two must agree
    visible = np.ones(count)
    cases = (
        ("MSRA", MSRAHeatmap(INPUT, HEATMAP), mm.gaussian_heatmap.generate_gaussian_heatmaps),
        ("DARK", MSRAHeatmap(INPUT, HEATMAP, unbiased=True), mm.gaussian_heatmap.generate_unbiased_gaussian_heatmaps),
        ("UDP", UDPHeatmap(INPUT, HEATMAP), mm.gaussian_heatmap.generate_udp_gaussian_heatmaps),
    )
    for name, codec, generate in cases:
        ours, weights = codec.encode(keypoints, visible)
        theirs, their_weights = generate(HEATMAP, (keypoints / codec.scale_factor)[None], visible[None], 2.0)
        locations, _ = mm.post_processing.get_heatmap_maximum(theirs.copy())
        if name == "MSRA":
            refined = mm.refinement.refine_keypoints(locations[None].copy(), theirs.copy())[0]
        elif name == "DARK":
            refined = mm.refinement.refine_keypoints_dark(locations[None].copy(), theirs.copy(), 11)[0]
        else:
            refined = mm.refinement.refine_keypoints_dark_udp(locations[None].copy(), theirs.copy(), 11)[0]
        decoded, _ = codec.decode(theirs)
        interior = (locations[:, 0] > 1) | (name != "MSRA")  # MMPose skips column 1 (documented deviation)
        same_weights = np.array_equal(weights, their_weights.ravel())
        decode_error = np.abs(decoded / codec.scale_factor - refined)[interior].max()
        print(
            f"{name:5s} encode max|Δ| {np.abs(ours - theirs).max():.2e}, weights equal {same_weights}; "
            f"decode max|Δ| {decode_error:.2e} heatmap px"
        )


def _best_ms(function: Callable[[], object], number: int) -> float:
    """Best of several timings in milliseconds per call: the machine may be shared."""
    return min(timeit.repeat(function, number=number, repeat=10)) / number * 1e3


def speed_and_accuracy() -> None:
    rng = np.random.default_rng(1)
    for name, codec in (
        ("MSRA", MSRAHeatmap(INPUT, HEATMAP)),
        ("DARK", MSRAHeatmap(INPUT, HEATMAP, unbiased=True)),
        ("UDP", UDPHeatmap(INPUT, HEATMAP)),
    ):
        keypoints = rng.uniform(12, np.array(INPUT) - 12, size=(64, 17, 2))
        batch = np.stack([codec.encode(k, np.ones(17))[0] for k in keypoints])  # (64, 17, 64, 48)
        encode_ms = _best_ms(lambda c=codec, k=keypoints[0]: c.encode(k, np.ones(17)), number=20)
        decode_ms = _best_ms(lambda c=codec, b=batch: c.decode(b), number=1)
        decoded, _ = codec.decode(batch)
        error = np.linalg.norm((decoded - keypoints) / codec.scale_factor, axis=-1)
        print(
            f"{name:5s} encode {encode_ms:.2f} ms/person (17 joints); "
            f"decode {decode_ms:.1f} ms per 64 persons (17 maps of 64×48); "
            f"round trip error mean {error.mean():.3f} / max {error.max():.3f} heatmap px"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mmpose", type=Path, help="an MMPose source checkout to compare with")
    args = parser.parse_args()
    speed_and_accuracy()
    if args.mmpose:
        compare_with_mmpose(args.mmpose)
    return 0


if __name__ == "__main__":
    sys.exit(main())
