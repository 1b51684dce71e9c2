"""SynthPose difficulty levels: hard is SynthPose as first written, byte for byte; easier levels are easier in
the measurable ways their knobs say; the manifest records them; occlusion events hide people in videos; the
held-out test split leaves train and val as they were; a dataset of other settings is never overwritten."""

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from vipnas.config import SYNTHPOSE_LEVELS, load_config
from vipnas.data import synthpose
from vipnas.data.synthpose import LEVELS, Difficulty
from vipnas.engine.build import prepare_data

# sha256 over (relative path, sha256 of the bytes) of every file but the manifest, of
# generate(root, images=6, videos=2, frames=4, seed=5) written by the generator before levels existed (commit
# 011cb5f): the hard level must reproduce it exactly.
FIRST_SYNTHPOSE_DIGEST = "63004e9cc6b0ffef2883ca679bddb6188298a039d0923ead864bcb5ccf07a955"


def tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(Path(root).rglob("*")):
        if path.is_file() and path.name != "manifest.json":
            digest.update(path.relative_to(root).as_posix().encode())
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def test_hard_level_is_synthpose_as_first_written(tmp_path):
    synthpose.generate(tmp_path, images=6, videos=2, frames=4, seed=5, workers=1, progress=False, level="hard")
    assert tree_digest(tmp_path) == FIRST_SYNTHPOSE_DIGEST


def test_config_and_cli_know_the_same_levels():
    assert tuple(LEVELS) == SYNTHPOSE_LEVELS


def test_manifest_records_the_level_and_every_knob(tmp_path):
    synthpose.generate(tmp_path, images=4, seed=1, workers=1, progress=False, level="easy")
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["level"] == "easy"
    assert Difficulty.from_dict(manifest["difficulty"]) == LEVELS["easy"]


def _statistics(root: Path) -> dict[str, float]:
    data = json.loads((root / "annotations" / "synth_train.json").read_text())
    heights = {image["id"]: image["height"] for image in data["images"]}
    flags = np.array([a["keypoints"] for a in data["annotations"]]).reshape(-1, 17, 3)[..., 2]
    labelled = flags > 0
    return {
        "people": len(data["annotations"]) / len(data["images"]),
        "height": float(np.median([a["bbox"][3] / heights[a["image_id"]] for a in data["annotations"]])),
        "occluded": float((flags == 1).sum() / labelled.sum()),
    }


def test_easier_levels_have_fewer_larger_less_occluded_people(tmp_path):
    stats = {}
    for level in ("easy", "medium", "hard"):
        synthpose.generate(tmp_path / level, images=40, seed=2, workers=1, progress=False, level=level)
        stats[level] = _statistics(tmp_path / level)
    assert stats["easy"]["people"] < stats["medium"]["people"] < stats["hard"]["people"]
    assert stats["easy"]["height"] > stats["hard"]["height"]
    assert stats["easy"]["occluded"] < stats["medium"]["occluded"] < stats["hard"]["occluded"]
    data = json.loads((tmp_path / "easy" / "annotations" / "synth_train.json").read_text())
    per_image = np.bincount([a["image_id"] for a in data["annotations"]])
    assert per_image.max() <= 2  # easy: one or two people


def _hidden_person_frames(root: Path) -> int:
    """Person-frames with at least half of their labelled joints occluded."""
    merged = json.loads((root / "posetrack" / "annotations" / "posetrack_train.json").read_text())
    count = 0
    for annotation in merged["annotations"]:
        flags = np.array(annotation["keypoints"]).reshape(17, 3)[:, 2]
        labelled = flags > 0
        count += int(labelled.sum() >= 4 and (flags[labelled] == 1).mean() >= 0.5)
    return count


def test_occlusion_events_hide_people_and_their_rate_is_a_knob(tmp_path):
    calm = replace(LEVELS["easy"], name="custom", occlusion_events=0.0)
    busy = replace(LEVELS["easy"], name="custom", occlusion_events=6.0)
    counts = {}
    for name, level in (("calm", calm), ("busy", busy)):
        synthpose.generate(tmp_path / name, videos=3, frames=16, seed=4, workers=1, progress=False, level=level)
        counts[name] = _hidden_person_frames(tmp_path / name)
    assert counts["busy"] >= counts["calm"] + 8  # easy videos have no other occluders: people hide each other only


def test_test_split_leaves_train_and_val_images_as_they_were(tmp_path):
    synthpose.generate(tmp_path / "plain", images=20, seed=6, workers=1, progress=False, level="easy")
    synthpose.generate(
        tmp_path / "split", images=20, seed=6, workers=1, progress=False, level="easy", test_fraction=0.2
    )
    plain = json.loads((tmp_path / "plain" / "manifest.json").read_text())["images"]
    split = json.loads((tmp_path / "split" / "manifest.json").read_text())["images"]
    assert plain == {"train": 16, "val": 4} and split == {"train": 12, "val": 4, "test": 4}
    for name in ("000000000001.jpg", "000000000012.jpg"):
        for folder in ("train", "val") if name.endswith("1.jpg") else ("train",):
            first = (tmp_path / "plain" / "images" / folder / name).read_bytes()
            assert first == (tmp_path / "split" / "images" / folder / name).read_bytes()
    test_images = synthpose.load(tmp_path / "split", "test").images
    assert len(test_images) == 4
    train = (tmp_path / "split" / "images" / "train" / "000000000001.jpg").read_bytes()
    assert (tmp_path / "split" / "images" / "test" / "000000000001.jpg").read_bytes() != train


def test_bad_levels_are_named_errors():
    with pytest.raises(ValueError, match="unknown SynthPose level 'impossible'"):
        synthpose.generate("/nonexistent", images=1, level="impossible")
    with pytest.raises(ValueError, match=r"difficulty\.people"):
        Difficulty(people=(0.5, 0.4))
    with pytest.raises(ValueError, match=r"difficulty\.person_size"):
        Difficulty(person_size=(0.9, 0.2))
    with pytest.raises(ValueError, match="unknown SynthPose difficulty field"):
        Difficulty.from_dict({"crowds": 3})
    with pytest.raises(ValueError, match=r"data\.synthpose_level"):
        load_config("synthpose_s_vipnas_mbv3", ["data.synthpose_level='brutal'"])


def test_a_dataset_of_other_settings_is_never_overwritten(tmp_path):
    root = tmp_path / "data"
    synthpose.generate(root, images=6, seed=0, workers=1, progress=False, level="easy")
    before = tree_digest(root)
    for change in ("data.synthpose_images=8", "data.synthpose_level='hard'", "data.synthpose_seed=1"):
        config = load_config(
            "synthpose_s_vipnas_mbv3",
            [f"data.root='{root}'", "data.synthpose_images=6", "data.synthpose_level='easy'", change],
        )
        with pytest.raises(ValueError, match="holds another SynthPose dataset"):
            prepare_data(config)
    assert tree_digest(root) == before
    foreign = tmp_path / "photos"
    foreign.mkdir()
    (foreign / "holiday.jpg").write_bytes(b"not synthpose")
    config = load_config("synthpose_s_vipnas_mbv3", [f"data.root='{foreign}'"])
    with pytest.raises(ValueError, match="holds no SynthPose manifest"):
        prepare_data(config)
    assert (foreign / "holiday.jpg").read_bytes() == b"not synthpose"
    same = load_config(
        "synthpose_s_vipnas_mbv3", [f"data.root='{root}'", "data.synthpose_images=6", "data.synthpose_level='easy'"]
    )
    prepare_data(same)  # the matching dataset is used as it is
    assert tree_digest(root) == before
