"""The heatmap codec as a config choice: datasets built with it, recorded in checkpoints, used by the search
evaluator, and old checkpoints (no codec recorded) read as MSRA."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import vipnas
from vipnas.config import load_config
from vipnas.engine.build import build_train_dataset, build_val_dataset, prepare_data
from vipnas.engine.distributed import DistributedInfo
from vipnas.engine.trainer import Trainer
from vipnas.models.metadata import ModelMetadata
from vipnas.nas.evaluate import SupernetEvaluator

SINGLE = DistributedInfo(rank=0, local_rank=0, world_size=1, device=torch.device("cpu"))


def test_codec_is_a_checked_choice_and_the_synthpose_presets_use_dark() -> None:
    assert load_config().data.codec == "msra" and load_config("s_vipnas_res50_coco").data.codec == "msra"
    assert load_config("synthpose_mbv3_supernet").data.codec == "dark"
    assert load_config("synthpose_s_vipnas_mbv3").data.codec == "dark"
    assert load_config(None, ["data.codec=udp"]).data.codec == "udp"
    with pytest.raises(ValueError, match=r"data.codec must be one of 'msra', 'dark', 'udp'; got 'unbiased'"):
        load_config(None, ["data.codec=unbiased"])


@pytest.fixture
def datasets(overrides):
    """The same training persons (test crops) and validation split, once per codec, at 64x48 (16x12 heatmaps)."""
    built = {}
    for codec in ("msra", "dark", "udp"):
        config = load_config("synthpose_mbv3_supernet", overrides(**{"data.codec": codec}))
        metadata = ModelMetadata(name="probe", input_size=(64, 48))
        paths = prepare_data(config)
        train = build_train_dataset(config, metadata, paths, augment=False)
        val, _ = build_val_dataset(config, metadata, paths)
        built[codec] = (train, val)
    return built


def _inside(sample, codec, margin: float) -> np.ndarray:
    """Visible joints at least ``margin`` heatmap pixels inside the map."""
    centre = sample.keypoints / codec.scale_factor
    limit = np.array(codec.heatmap_size) - 1 - margin
    return (sample.visible > 0) & (centre >= margin).all(axis=1) & (centre <= limit).all(axis=1)


def test_each_codec_builds_its_own_targets_and_crops(datasets) -> None:
    for name, (train, val) in datasets.items():
        assert train.codec.name == val.codec.name == name and train.udp == val.udp == (name == "udp")
        assert train.codec.heatmap_size == (12, 16) and train.codec.sigma == 2.0
    msra, dark, udp = (datasets[name][0][0] for name in ("msra", "dark", "udp"))
    np.testing.assert_array_equal(msra.keypoints, dark.keypoints)  # same crop ...
    assert not torch.equal(msra.heatmaps, dark.heatmaps)  # ... rounded vs sub-pixel centres
    assert not np.allclose(udp.keypoints, msra.keypoints)  # UDP crops with its own affine ...
    assert not torch.equal(udp.heatmaps, msra.heatmaps)  # ... and encodes on its own pixel grid
    peaks = msra.heatmaps.flatten(1).max(dim=1).values[_inside(msra, datasets["msra"][0].codec, 0)]
    assert torch.all(peaks == 1.0)  # MSRA: the peak sits on a pixel


def test_dark_decodes_its_targets_far_more_accurately_than_msra_at_small_heatmaps(datasets) -> None:
    errors = {}
    for name in ("msra", "dark", "udp"):
        train, _ = datasets[name]
        per_joint = []
        for index in range(len(train)):
            sample = train[index]
            inside = _inside(sample, train.codec, 2.5)  # DARK refines maxima at least 2 px inside the map
            decoded, _ = train.codec.decode(sample.heatmaps.numpy())
            per_joint.append(np.linalg.norm(decoded - sample.keypoints, axis=1)[inside])  # input pixels
        errors[name] = np.concatenate(per_joint)
    assert len(errors["msra"]) > 20
    assert errors["msra"].mean() > 0.5  # rounding to 16x12 pixels: up to 2 input px per axis
    assert errors["dark"].mean() < errors["msra"].mean() / 5 and errors["udp"].mean() < errors["msra"].mean() / 5


def test_the_codec_is_recorded_in_checkpoints_and_used_by_the_search(tmp_path, overrides) -> None:
    extra = {"data.codec": "udp", "data.sigma": 3.0, "schedule.max_iters": 1, "runtime.checkpoint_interval": 0}
    extra.update({"runtime.validate": True, "runtime.val_by_epoch": False, "runtime.val_interval": 1})
    extra["supernet.val_archs"] = ("smallest",)
    config = load_config("synthpose_mbv3_supernet", overrides(**extra))
    trainer = Trainer(config, SINGLE, work_dir=tmp_path)
    assert trainer.validator is not None and trainer.validator.codec.name == "udp"
    trainer.fit()
    path = tmp_path / "checkpoints" / "last.pth"
    assert torch.load(path, weights_only=True)["metadata"]["codec"] == "udp"
    model = vipnas.load_model(path)
    assert (model.metadata.codec, model.metadata.sigma) == ("udp", 3.0)
    subnet = model.extract_subnet(model.space.smallest())
    assert (subnet.metadata.codec, subnet.metadata.sigma) == ("udp", 3.0)

    evaluator = SupernetEvaluator.from_checkpoint(path, calibration_images=2)
    assert evaluator.codec.name == "udp" and evaluator.codec.sigma == 3.0 and evaluator.codec.blur_kernel_size == 17
    assert "AP" in evaluator(model.space.smallest())
    override = SupernetEvaluator.from_checkpoint(path, calibration_images=2, codec="dark")
    assert override.codec.name == "dark" and override.codec.sigma == 3.0
    assert not np.allclose(override.val_batches[0].inverse_affine, evaluator.val_batches[0].inverse_affine)
    with pytest.raises(ValueError, match=r"data\.codec must be one of"):
        SupernetEvaluator.from_checkpoint(path, calibration_images=2, codec="argmax")

    old = torch.load(path, weights_only=True)  # as written before the codec was recorded
    del old["metadata"]["codec"], old["metadata"]["sigma"], old["config"]["data"]["codec"]
    torch.save(old, tmp_path / "old.pth")
    loaded = vipnas.load_model(tmp_path / "old.pth")
    assert (loaded.metadata.codec, loaded.metadata.sigma) == ("msra", 3.0)  # σ from its training config
    assert SupernetEvaluator.from_checkpoint(tmp_path / "old.pth", calibration_images=2).codec.name == "msra"
    del old["config"]
    torch.save(old, tmp_path / "bare.pth")
    assert (vipnas.load_model(tmp_path / "bare.pth").metadata.sigma, loaded.metadata.num_joints) == (2.0, 17)
