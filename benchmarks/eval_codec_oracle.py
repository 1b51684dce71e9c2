"""Oracle AP of the heatmap codecs: COCO AP of decode(encode(ground truth)) on SynthPose val crops.

What a network trained with a codec can reach at best: each val person is cropped at its ground-truth box
exactly as validation crops it (``vipnas.engine.build.build_val_dataset``, config ``data.codec``), its target
heatmaps are decoded with the same codec and back-projected into the image, and the result is scored with the
COCO evaluator of ``vipnas.evaluation`` (pycocotools; OKS-NMS and rescoring as in validation, no flip test).
Per codec (msra, dark, udp) × input size (h x w; heatmaps are 1/4 of it) × SynthPose difficulty level:

    python benchmarks/eval_codec_oracle.py                               # 300 images per level, all sizes
    python benchmarks/eval_codec_oracle.py --levels hard --sizes 128x96 --images 100
"""

from __future__ import annotations

import argparse
import contextlib
import io
import tempfile
from pathlib import Path

from _machine import footer, header  # benchmarks/ is on sys.path when a script there runs

from vipnas.codec import CODECS
from vipnas.config import config_from_dict
from vipnas.data import synthpose
from vipnas.data.dataset import build_loader
from vipnas.engine.build import DataPaths, build_val_dataset
from vipnas.evaluation import PosePredictions, evaluate_coco
from vipnas.models.metadata import ModelMetadata


def generate_level(root: Path, level: str, images: int, seed: int, workers: int) -> synthpose.SynthPoseLayout:
    if level not in synthpose.LEVELS:
        raise SystemExit(f"unknown SynthPose level {level!r}; levels: {', '.join(synthpose.LEVELS)}")
    return synthpose.generate(root, images=images, seed=seed, level=level, workers=workers, progress=False)


def oracle_ap(layout: synthpose.SynthPoseLayout, codec: str, input_size: tuple[int, int]) -> tuple[float, int]:
    """COCO AP of decode(encode(ground truth)) on the val split, and the number of crops."""
    config = config_from_dict({"data": {"source": "synthpose", "codec": codec}, "model": {"input_size": input_size}})
    paths = DataPaths(
        layout.annotations("train"), layout.images("train"), layout.annotations("val"), layout.images("val"), None
    )
    metadata = ModelMetadata(name="oracle", input_size=input_size, codec=codec, sigma=config.data.sigma)
    dataset, ground_truth = build_val_dataset(config, metadata, paths)
    parts = []
    for batch in build_loader(dataset, batch_size=64):
        keypoints, scores = dataset.codec.decode(batch.heatmaps.numpy())  # (N, K, 2) input px, (N, K)
        parts.append(PosePredictions.from_crops(keypoints, scores, batch))
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress lines
        metrics = evaluate_coco(ground_truth, PosePredictions.concatenate(parts))
    return float(metrics["AP"]), len(dataset)


def _size(text: str) -> tuple[int, int]:
    height, width = (int(v) for v in text.lower().split("x"))
    return height, width


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--levels", default="easy,medium,hard", help="SynthPose difficulty levels, comma-separated")
    parser.add_argument("--sizes", default="64x48,128x96,256x192", help="input sizes h x w, comma-separated")
    parser.add_argument("--codecs", default=",".join(CODECS))
    parser.add_argument("--images", type=int, default=300, help="SynthPose images per level (20%% are val)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=1, help="SynthPose generator processes")
    args = parser.parse_args()
    levels, codecs = args.levels.split(","), args.codecs.split(",")
    sizes = [_size(text) for text in args.sizes.split(",")]
    start = header("oracle AP of the heatmap codecs on SynthPose val (ground-truth boxes)")
    print(f"SynthPose: {args.images} images per level (seed {args.seed}); codecs at data.sigma 2, no flip test")
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for level in levels:
            layout = generate_level(Path(folder) / level, level, args.images, args.seed, args.workers)
            for height, width in sizes:
                values = []
                for codec in codecs:
                    ap, crops = oracle_ap(layout, codec, (height, width))
                    values.append(ap)
                rows.append((level, f"{height}x{width}", f"{height // 4}x{width // 4}", crops, values))
    print()
    print(f"| level | input | heatmap | val crops | {' | '.join(f'{c} AP' for c in codecs)} |")
    print("|---|---|---|---|" + "---|" * len(codecs))
    for level, size, heatmap, crops, values in rows:
        print(f"| {level} | {size} | {heatmap} | {crops} | {' | '.join(f'{v:.4f}' for v in values)} |")
    footer(start)


if __name__ == "__main__":
    main()
