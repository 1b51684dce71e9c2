"""PoseTrack18 validation during training: with the official folder of per-video files, validation computes poseval's
mAP (``Total``) on them — not COCO AP on the merged file — and ``best.pth`` follows it."""

from __future__ import annotations

import json

import pytest
import torch

import vipnas
from vipnas.config import load_config
from vipnas.data import synthpose
from vipnas.data.files import read_json, write_json_atomic
from vipnas.data.synthpose.generate import SynthPoseLayout
from vipnas.engine.distributed import DistributedInfo
from vipnas.engine.trainer import Trainer
from vipnas.evaluation.pipeline import evaluate_model

SINGLE = DistributedInfo(rank=0, local_rank=0, world_size=1, device=torch.device("cpu"))


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    """SynthPose with 4 videos of 6 frames (3 train, 1 val), as a PoseTrack18 root."""
    root = tmp_path_factory.mktemp("posetrack-synth")
    synthpose.generate(root, images=2, videos=4, frames=6, seed=3, workers=1, progress=False)
    return SynthPoseLayout(root)


def _config(layout, **extra):
    values = {
        "data.source": "coco",
        "data.dataset": "POSETRACK18",
        "data.root": f"'{layout.posetrack_root}'",
        "data.train_annotations": "annotations/posetrack_train.json",
        "data.train_images": ".",
        "data.val_annotations": "annotations/val",
        "data.val_images": ".",
        "data.batch_size": 2,
        "data.val_batch_size": 4,
        "data.num_workers": 0,
        "data.train_limit": 4,
        "data.val_limit": 0,
        "model.input_size": (64, 64),
        "schedule.max_iters": 3,
        "schedule.warmup_iters": 1,
        "runtime.validate": True,
        "runtime.val_interval": 1,
        "runtime.val_by_epoch": False,
        "runtime.val_flip": False,
        "runtime.progress": False,
        "runtime.threads": 1,
        "optimizer.lr": 0.05,  # big steps: the three validations differ
    }
    values.update(extra)
    return load_config("synthpose_s_vipnas_mbv3", [f"{key}={value}" for key, value in values.items()])


def _val_rows(work_dir):
    rows = [json.loads(line) for line in (work_dir / "metrics.jsonl").read_text().splitlines()]
    return [row for row in rows if row["type"] == "val"]


def test_validation_computes_poseval_map_on_the_video_files_and_picks_best_by_it(tmp_path, videos) -> None:
    trainer = Trainer(_config(videos), SINGLE, work_dir=tmp_path)
    trainer.fit()
    rows = _val_rows(tmp_path)
    assert len(rows) == 3
    for row in rows:
        assert {"Head", "Shoulder", "Ankle", "Total", "loss"} <= set(row) and "AP" not in row
    assert trainer.best["metric"] == "Total"
    assert trainer.best["value"] == max(row["Total"] for row in rows) > 0  # the learning run finds a few joints
    # best.pth is the network of that validation: evaluating it on its own (the CLI's path) gives the same mAP
    model = vipnas.load_model(tmp_path / "checkpoints" / "best.pth")
    metrics, _ = evaluate_model(
        model, "POSETRACK", videos.video_annotations("val"), videos.posetrack_root, flip=False, codec="dark"
    )
    assert metrics["Total"] == pytest.approx(trainer.best["value"], abs=1e-9)


def test_val_limit_evaluates_exactly_the_first_frames(tmp_path, videos) -> None:
    """``data.val_limit`` frames: the same mAP as a ground-truth folder cut down to those frames by hand."""
    trainer = Trainer(_config(videos, **{"data.val_limit": 3}), SINGLE, work_dir=tmp_path)
    trainer.fit()
    row = _val_rows(tmp_path)[-1]
    assert row["Total"] > 0
    cut = tmp_path / "cut"
    for path in sorted(videos.video_annotations("val").glob("*.json")):
        data = read_json(path)
        data["images"] = data["images"][:3]
        kept = {image["id"] for image in data["images"]}
        data["annotations"] = [a for a in data["annotations"] if a["image_id"] in kept]
        write_json_atomic(cut / path.name, data)
    model = vipnas.load_model(tmp_path / "checkpoints" / "last.pth")
    metrics, _ = evaluate_model(model, "POSETRACK", cut, videos.posetrack_root, flip=False, codec="dark")
    assert row["Total"] == pytest.approx(metrics["Total"], abs=1e-9)


def test_a_frame_listed_twice_names_the_ground_truth_file(tmp_path, videos) -> None:
    folder = tmp_path / "val"
    for path in sorted(videos.video_annotations("val").glob("*.json")):
        data = read_json(path)
        twin = dict(data["images"][1], id=data["images"][1]["id"] + 500)  # the same frame file under a new id
        data["images"].append(twin)
        write_json_atomic(folder / path.name, data)
    with pytest.raises(ValueError, match=r"val/.*\.json: images\[1\] and images\[6\] are the same frame"):
        evaluate_model(vipnas.create_model("s_vipnas_mbv3"), "POSETRACK", folder, videos.posetrack_root)
    from vipnas.evaluation.posetrack import read_posetrack_video

    with pytest.raises(ValueError, match=r"images\[1\] and images\[6\] are the same frame"):
        read_posetrack_video(next(folder.glob("*.json")), prediction=False)
