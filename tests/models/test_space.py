"""Search spaces: JSON round trips, validation with named errors, official archs contained, uniform and
deterministic sampling, mutation and crossover stay valid."""

from __future__ import annotations

import collections
import json
import random
from dataclasses import replace

import pytest

from vipnas.space import (
    CPU_EFFICIENT_SPACE,
    CPU_EFFICIENT_TINY_SPACE,
    MOBILENETV3_SPACE,
    RESNET50_SPACE,
    S_VIPNAS_MBV3_ARCH,
    S_VIPNAS_RES50_ARCH,
    SBL_RES50_ARCH,
    Arch,
    InvalidArchError,
    get_search_space,
    load_arch,
    save_arch,
)

SPACES = [RESNET50_SPACE, MOBILENETV3_SPACE, CPU_EFFICIENT_SPACE, CPU_EFFICIENT_TINY_SPACE]


@pytest.mark.parametrize("space", SPACES, ids=lambda s: s.name)
def test_json_round_trip_and_hash(space, tmp_path) -> None:
    rng = random.Random(0)
    for _ in range(50):
        arch = space.sample(rng)
        again = Arch.from_json(arch.to_json())
        assert again == arch and hash(again) == hash(arch)
    save_arch(arch, tmp_path / "arch.json")
    assert load_arch(tmp_path / "arch.json") == arch
    assert {arch: 1}[Arch.from_dict(json.loads(arch.to_json()))] == 1  # usable as a cache key


@pytest.mark.parametrize("space", SPACES, ids=lambda s: s.name)
def test_every_sampled_mutated_and_crossed_arch_validates(space) -> None:
    rng = random.Random(1)
    for _ in range(300):
        first, second = space.sample(rng), space.sample(rng)
        space.validate(first)
        space.validate(space.mutate(first, rng, probability=0.5))
        space.validate(space.crossover(first, second, rng))
    space.validate(space.largest())
    space.validate(space.smallest())


@pytest.mark.parametrize("space", SPACES, ids=lambda s: s.name)
def test_sampling_is_deterministic_for_a_seed(space) -> None:
    first = [space.sample(random.Random(7)) for _ in range(3)]
    second = [space.sample(random.Random(7)) for _ in range(3)]
    assert first == second
    assert len({space.sample(random.Random(seed)) for seed in range(20)}) == 20


def test_sampling_is_uniform_over_valid_width_group_pairs() -> None:
    # ResNet stage 1: widths {64, 80} x groups {16, 32, 48, 64} leave 4 valid pairs: (64, 16), (64, 32),
    # (64, 64), (80, 16). Uniform over valid archs gives each 1/4 (sampling width first would give 80 half).
    rng = random.Random(2)
    counts = collections.Counter()
    draws = 8000
    for _ in range(draws):
        stage = RESNET50_SPACE.sample(rng).stages[0]
        counts[(stage.width, stage.groups)] += 1
    assert set(counts) == {(64, 16), (64, 32), (64, 64), (80, 16)}
    for count in counts.values():
        assert abs(count / draws - 0.25) < 0.025


def test_official_archs_are_in_their_spaces() -> None:
    RESNET50_SPACE.validate(S_VIPNAS_RES50_ARCH)
    MOBILENETV3_SPACE.validate(S_VIPNAS_MBV3_ARCH)
    assert not RESNET50_SPACE.contains(SBL_RES50_ARCH)  # a ResNet-family member outside the ViPNAS space


def test_largest_and_smallest_are_extremes() -> None:
    large, small = RESNET50_SPACE.largest(), RESNET50_SPACE.smallest()
    assert [s.depth for s in large.stages] == [4, 6, 8, 4] and [s.depth for s in small.stages] == [3, 4, 6, 3]
    assert [s.width for s in large.stages] == [80, 160, 320, 640] and all(s.attention for s in large.stages)
    assert [s.groups for s in small.stages] == [64, 64, 64, 64] and not any(s.attention for s in small.stages)
    assert (large.stem.width, small.stem.width) == (64, 32)
    mb_large = MOBILENETV3_SPACE.largest()
    assert [s.expand_ratio for s in mb_large.stages] == [1, 6, 6, 6, 6, 6]
    assert [s.kernel_size for s in mb_large.stages[1:]] == [7] * 5


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda a: replace(a, stem=replace(a.stem, width=40)), r"stem: width=40 .* allowed: \[32, 48, 64\]"),
        (lambda a: _stage(a, 0, depth=5), r"stage 1: depth=5 .* allowed: \[3, 4\]"),
        (lambda a: _stage(a, 1, kernel_size=7), r"stage 2: kernel_size=7"),
        (lambda a: _stage(a, 0, groups=32), r"stage 1: groups=32 .* 80 middle channels"),
        (lambda a: _stage(a, 2, width=300), r"stage 3: width=300"),
        (lambda a: replace(a, head=replace(a.head, groups=48)), r"head: groups=48"),
        (lambda a: replace(a, stages=a.stages[:3]), r"3 stages"),
        (lambda a: replace(a, family="mobilenetv3"), r"does not match search space"),
    ],
)
def test_invalid_archs_raise_named_errors(change, message) -> None:
    with pytest.raises(InvalidArchError, match=message):
        RESNET50_SPACE.validate(change(S_VIPNAS_RES50_ARCH))


def test_mobilenet_group_must_give_allowed_channels_per_group() -> None:
    bad = _stage(S_VIPNAS_MBV3_ARCH, 1, groups=40)  # 120 middle channels / 40 = 3 per group: not in {1,2,4,8,16}
    with pytest.raises(InvalidArchError, match="stage 2: groups=40"):
        MOBILENETV3_SPACE.validate(bad)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[1, 2]", "expected a JSON object"),
        ('{"family": "resnet"}', "missing field"),
        ("{not json", "not valid JSON"),
        (json.dumps({**S_VIPNAS_RES50_ARCH.to_dict(), "family": "vgg"}), "family 'vgg' is unknown"),
        (
            json.dumps({**S_VIPNAS_RES50_ARCH.to_dict(), "stem": {"width": "48", "kernel_size": 7}}),
            r"stem.width: expected an integer",
        ),
        (
            json.dumps({**S_VIPNAS_RES50_ARCH.to_dict(), "stem": {"width": 48, "kernel": 7}}),
            r"unknown field\(s\) \['kernel'\]",
        ),
    ],
)
def test_malformed_arch_json_is_a_named_error(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Arch.from_json(text, source="arch.json")


def test_space_lookup_and_serialisation() -> None:
    assert get_search_space("mbv3") is MOBILENETV3_SPACE
    with pytest.raises(ValueError, match="unknown search space"):
        get_search_space("vgg")
    again = type(RESNET50_SPACE).from_dict(json.loads(json.dumps(RESNET50_SPACE.to_dict())))
    assert again == RESNET50_SPACE
    assert RESNET50_SPACE.size() > 10**9


def _stage(arch: Arch, index: int, **changes) -> Arch:
    stages = list(arch.stages)
    stages[index] = replace(stages[index], **changes)
    return replace(arch, stages=tuple(stages))
