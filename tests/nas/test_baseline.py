"""The hand-shrunk baseline: uniform scaling refined stage by stage, at the searched arch's MACs within ±3 %."""

import random

from vipnas.models.complexity import arch_complexity
from vipnas.models.registry import create_model
from vipnas.nas.baseline import hand_shrunk_arch, uniform_arch

SIZE = (128, 96)


def test_baseline_matches_the_target_macs_within_three_percent():
    space = create_model("mobilenetv3_tiny_supernet").space
    top = max(arch_complexity(uniform_arch(space, 1.0, w), input_size=SIZE).macs for w in (0.0, 0.5, 1.0))
    rng = random.Random(3)
    checked = 0
    while checked < 12:
        target = arch_complexity(space.sample(rng), input_size=SIZE).macs
        low = arch_complexity(uniform_arch(space, 0.0, 0.0), input_size=SIZE).macs
        if not low <= target <= top:  # beyond the uniform family's range nothing can match
            continue
        baseline = hand_shrunk_arch(space, target, input_size=SIZE)
        macs = arch_complexity(baseline, input_size=SIZE).macs
        assert abs(macs / target - 1) <= 0.03, (target, macs)
        checked += 1


def test_baseline_is_built_from_uniform_archs_stage_by_stage():
    space = create_model("mobilenetv3_tiny_supernet").space
    uniform = [uniform_arch(space, d / 20, w / 20) for d in range(21) for w in range(21)]
    baseline = hand_shrunk_arch(space, 5.7e6, input_size=SIZE)
    assert baseline not in uniform  # a refined blend, not one of the 4 coarse uniform archs
    for index, stage in enumerate(baseline.stages):
        depths = {arch.stages[index].depth for arch in uniform}
        rest = {(a.stages[index].width, a.stages[index].expand_ratio, a.stages[index].groups) for a in uniform}
        assert stage.depth in depths and (stage.width, stage.expand_ratio, stage.groups) in rest
    assert baseline.head in {arch.head for arch in uniform} and baseline.stem in {arch.stem for arch in uniform}
