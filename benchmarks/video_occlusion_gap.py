"""What temporal context has to recover: a single-frame network's AP on SynthPose video frames where a person is
mostly occluded, against its AP on frames where they are (nearly) unoccluded.

    python benchmarks/video_occlusion_gap.py                    # the shipped supernet's largest network, easy level
    python benchmarks/video_occlusion_gap.py --model runs/demo/finetune_searched-*/train/checkpoints/last.pth
    python benchmarks/video_occlusion_gap.py --level medium --videos 24 --seeds 0,1,2

Videos are rendered with the level's occlusion events (an occluder passing in front of one person), annotated with
COCO's 17 joints. Every labelled person-frame is cropped from its ground-truth box; the person-frames are split by
the share of their labelled joints that are occluded (flag 1): < 20 % ("unoccluded") and >= 50 % ("occluded"),
and COCO AP (pycocotools) is computed on each subset. Seeds draw different videos.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import json
import statistics
import tempfile
from pathlib import Path

import numpy as np
from _machine import footer, header

UNOCCLUDED, OCCLUDED = 0.2, 0.5


def render(root: Path, level: str, videos: int, frames: int, seed: int) -> Path:
    """Videos as a COCO-format keypoint file with 17 COCO joints (what a COCO-trained network predicts)."""
    from vipnas.data.files import encode_jpeg, write_bytes_atomic, write_json_atomic
    from vipnas.data.metadata import COCO
    from vipnas.data.synthpose.difficulty import difficulty
    from vipnas.data.synthpose.generate import MIN_ANNOTATED_HEIGHT, _categories, _keypoints
    from vipnas.data.synthpose.scene import render_video

    images, annotations = [], []
    for video in range(videos):
        rng = np.random.default_rng((seed, 7, video))
        events = np.random.default_rng((seed, 8, video))
        scenes = render_video(rng, 384, 288, frames, COCO.joint_names, difficulty(level), events)
        for frame, (image, _, people) in enumerate(scenes):
            name = f"{video:03d}_{frame:04d}.jpg"
            write_bytes_atomic(root / "images" / name, encode_jpeg(image, 90))
            image_id = len(images) + 1
            images.append({"file_name": name, "height": 288, "width": 384, "id": image_id})
            for person in people:
                keypoints, count = _keypoints(person, COCO, person.height < MIN_ANNOTATED_HEIGHT)
                if count and person.area > 0:
                    annotations.append(
                        {
                            "keypoints": keypoints,
                            "num_keypoints": count,
                            "area": person.area,
                            "bbox": [round(float(v), 2) for v in person.box],
                            "iscrowd": 0,
                            "image_id": image_id,
                            "category_id": 1,
                            "id": len(annotations) + 1,
                        }
                    )
    path = root / "videos.json"
    write_json_atomic(path, {"images": images, "annotations": annotations, "categories": _categories(COCO)})
    return path


def occluded_share(annotation: dict) -> float:
    flags = np.array(annotation["keypoints"]).reshape(-1, 3)[:, 2]
    labelled = flags > 0
    return float((flags[labelled] == 1).mean()) if labelled.any() else 0.0


def subset_ap(ground_truth: dict, predictions, keep) -> tuple[float, int]:
    """COCO AP on the annotations ``keep`` selects (their images only), with the predictions made for them."""
    from vipnas.evaluation.pipeline import evaluate_predictions

    kept = [a for a in ground_truth["annotations"] if keep(a)]
    ids = {a["id"] for a in kept}
    images = {a["image_id"] for a in kept}
    subset = copy.deepcopy(ground_truth)
    subset["annotations"], subset["images"] = kept, [im for im in ground_truth["images"] if im["id"] in images]
    mask = np.isin(np.asarray(predictions.annotation_ids), list(ids))
    with contextlib.redirect_stdout(io.StringIO()):
        metrics = evaluate_predictions("COCO", subset, predictions.subset(np.flatnonzero(mask)))
    return float(metrics["AP"]), len(kept)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="a network checkpoint (default: the shipped supernet's largest)")
    parser.add_argument("--level", default="easy")
    parser.add_argument("--videos", type=int, default=16)
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    start = header(f"single-frame AP on occluded vs unoccluded SynthPose video frames ({args.level})")
    from vipnas.codec import codec_for_model
    from vipnas.data.coco import load_coco
    from vipnas.data.dataset import TopDownDataset, build_loader
    from vipnas.demo import FULL, PRETRAINED, demo_evaluators, supernet_config
    from vipnas.engine.batchnorm import recalibrate_bn
    from vipnas.evaluation.inference import run_inference
    from vipnas.models.checkpoint import load_model

    if args.model:
        model = load_model(args.model)
        described = args.model
    else:
        supernet = load_model(PRETRAINED)
        search, _, _ = demo_evaluators(supernet_config(FULL), supernet, FULL)
        model = supernet.extract_subnet(supernet.space.largest()).eval()
        recalibrate_bn(model, None, search.calibration_batches)
        described = f"largest network of {PRETRAINED.name} (BN recalibrated)"
    print(f"network: {described}")
    metadata = model.metadata
    height, width = metadata.input_size  # (h, w); the dataset takes (w, h)
    results = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        with tempfile.TemporaryDirectory() as folder:
            root = Path(folder)
            path = render(root, args.level, args.videos, args.frames, seed)
            ground_truth = json.loads(path.read_text())
            annotations = load_coco(path, root / "images", "COCO")
            dataset = TopDownDataset(
                annotations,
                input_size=(width, height),
                codec=codec_for_model(metadata),
                mean=metadata.mean,
                std=metadata.std,
            )
            batches = list(build_loader(dataset, batch_size=64, num_workers=0))
            from vipnas.data.metadata import COCO

            predictions = run_inference(model.eval(), batches, flip=True, flip_index=COCO.flip_index())
            clear, clear_n = subset_ap(ground_truth, predictions, lambda a: occluded_share(a) < UNOCCLUDED)
            hidden, hidden_n = subset_ap(ground_truth, predictions, lambda a: occluded_share(a) >= OCCLUDED)
        results.append(
            {
                "seed": seed,
                "unoccluded_AP": clear,
                "unoccluded_n": clear_n,
                "occluded_AP": hidden,
                "occluded_n": hidden_n,
                "gap": clear - hidden,
            }
        )
        print(
            f"seed {seed}: unoccluded AP {clear:.4f} ({clear_n} person-frames) | occluded AP {hidden:.4f} "
            f"({hidden_n}) | gap {clear - hidden:.4f}",
            flush=True,
        )
    for key in ("unoccluded_AP", "occluded_AP", "gap"):
        values = [r[key] for r in results]
        spread = statistics.stdev(values) if len(values) > 1 else 0.0
        print(f"{key}: {statistics.mean(values):.4f} ± {spread:.4f} over {len(values)} seeds")
    print(json.dumps(results))
    footer(start)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
