"""The config system: dataclass defaults = the official recipe, presets, YAML overlays, type-checked --set."""

from __future__ import annotations

import pytest

from vipnas.config import (
    Config,
    apply_overrides,
    config_from_dict,
    config_to_dict,
    dump_config,
    list_presets,
    load_config,
)


def test_defaults_are_the_official_s_vipnas_recipe() -> None:
    config = Config()
    assert (config.optimizer.name, config.optimizer.lr, config.optimizer.base_batch_size) == ("adam", 5e-4, 512)
    assert (config.schedule.epochs, config.schedule.milestones, config.schedule.gamma) == (210, (170, 200), 0.1)
    assert (config.schedule.warmup_iters, config.schedule.warmup_ratio) == (500, 0.001)
    assert config.data.batch_size == 64 and config.model.input_size == (256, 192) and config.data.sigma == 2.0
    assert config.supernet.num_random == 2 and config.supernet.distill


def test_every_preset_loads_and_the_supernet_recipe_is_the_papers() -> None:
    names = list_presets()
    assert {"synthpose_mbv3_supernet", "s_vipnas_res50_coco", "resnet50_supernet_coco"} <= set(names)
    for name in names:
        assert load_config(name).name == name
    paper = load_config("resnet50_supernet_coco")
    assert (paper.schedule.epochs, paper.schedule.milestones, paper.optimizer.lr) == (250, (200, 230), 1e-3)
    assert paper.model.name == "resnet50_supernet"


def test_set_overrides_are_parsed_as_literals_and_type_checked() -> None:
    config = load_config(
        "synthpose_mbv3_supernet",
        [
            "optimizer.lr=2e-3",
            "model.input_size=[64, 64]",
            "data.root=2024",
            "optimizer.name=sgd",
            "data.augment.flip_prob=0",
        ],
    )
    assert config.optimizer.lr == 2e-3 and isinstance(config.optimizer.lr, float)
    assert config.model.input_size == (64, 64)  # list -> tuple
    assert config.data.root == "2024"  # a string field keeps the text, not the int
    assert config.optimizer.name == "sgd" and config.data.augment.flip_prob == 0.0
    with pytest.raises(TypeError, match=r"optimizer.lr.*expects float"):
        load_config(None, ["optimizer.lr='fast'"])
    with pytest.raises(TypeError, match=r"model.input_size"):
        load_config(None, ["model.input_size=(1, 2, 3)"])
    with pytest.raises(TypeError, match=r"runtime.validate.*expects bool"):
        load_config(None, ["runtime.validate=1"])
    with pytest.raises(ValueError, match=r"one of 'adam', 'adamw', 'sgd'"):
        load_config(None, ["optimizer.name=lamb"])
    with pytest.raises(ValueError, match=r"key=value"):
        load_config(None, ["optimizer.lr"])


@pytest.mark.parametrize(
    ("override", "suggestion"),
    [("optimizer.lrr=1", "optimizer.lr"), ("schedule.epoch=3", "schedule.epochs"), ("optim.lr=1", "optimizer"),
     ("data.augment.flip=0.1", "data.augment.flip_prob")],
)  # fmt: skip
def test_unknown_keys_fail_with_suggestions(override: str, suggestion: str) -> None:
    with pytest.raises(ValueError, match=rf"unknown config key .*Did you mean '{suggestion}'"):
        load_config(None, [override])


def test_yaml_overlay_errors_name_the_file(tmp_path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text("optimizer:\n  learning_rate: 0.1\n")
    with pytest.raises(ValueError, match=r"mine.yaml: unknown config key 'optimizer.learning_rate'"):
        load_config(path)
    path.write_text("model:\n  name: sbl_res50\nschedule:\n  milestones: [1, 2]\n")
    config = load_config(path)
    assert config.name == "mine" and config.model.name == "sbl_res50" and config.schedule.milestones == (1, 2)
    with pytest.raises(FileNotFoundError, match=r"Did you mean 'synthpose_mbv3_supernet'"):
        load_config("synthpose_mbv3_supernt")


def test_dict_round_trip_and_yaml_dump() -> None:
    import yaml

    config = load_config("synthpose_mbv3_supernet", ["supernet.val_archs=('largest',)"])
    assert config_from_dict(config_to_dict(config)) == config
    assert config_from_dict(yaml.safe_load(dump_config(config))) == config
    assert apply_overrides(config, ["runtime.seed=7"]).runtime.seed == 7
