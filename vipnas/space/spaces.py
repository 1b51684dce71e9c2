"""The ViPNAS search spaces (paper Tables A1-A2) and the official searched architectures.

Deviations from the tables, each needed so that the space contains the official S-ViPNAS network of its
family (MMPose ``ViPNAS_ResNet`` / ``ViPNAS_MobileNetV3`` defaults and the official head configs):

* MobileNetV3 head: Table A1 lists 256 deconvolution filters with 32-256 groups; the official S-ViPNAS-MBv3
  head has 160 filters in 160 groups. A deconvolution's group number must divide its input (the last stage's
  160 channels) as well as its output, which Table A1's 64-256 groups on 256 filters cannot. The head choices
  are widths {160, 256} with 1, 2, 4 or 8 channels per group, of which the valid ones are 160 filters in
  20/40/80/160 groups and 256 filters in 32 groups (widths between have no group number dividing both).
* MobileNetV3 group numbers: Table A1 gives ranges such as [9, 144] for a stage whose largest middle width is
  144; the lower ends are middle/16 and the upper ends depthwise. Because the middle width moves with the
  expansion ratio, the choice is expressed as channels per group in {1, 2, 4, 8, 16} (stage 1 and the head:
  {1, 2, 4, 8}), i.e. group number = middle / channels-per-group; every official choice is of this form.
* ResNet-50: Table A2's resolution column says 1/8 for stage 1; the network (and MMPose) keeps 1/4 there.
"""

from __future__ import annotations

from vipnas.space.arch import Arch, HeadArch, StageArch, StemArch
from vipnas.space.hrnet import HRNET_W32_SPACE, HRNET_W32_TINY_SPACE, HRNetSearchSpace
from vipnas.space.search_space import HeadSpace, SearchSpace, StageSpace, StemSpace

__all__ = [
    "CPU_EFFICIENT_REALTIME_SPACE",
    "CPU_EFFICIENT_SPACE",
    "CPU_EFFICIENT_TINY_SPACE",
    "MOBILENETV3_SPACE",
    "MOBILENETV3_TINY_SPACE",
    "RESNET50_SPACE",
    "SBL_RES50_ARCH",
    "SEARCH_SPACES",
    "S_VIPNAS_MBV3_ARCH",
    "S_VIPNAS_RES50_ARCH",
    "get_search_space",
]


def _steps(low: int, high: int, step: int) -> tuple[int, ...]:
    return tuple(range(low, high + 1, step))


# Table A2: steps of 1 for depth, 16 for width, 2 for kernel size and 16 for group number (§A.2).
_RESNET_GROUPS = _steps(16, 64, 16)


def _bottleneck_stage(depths: tuple[int, ...], low: int, high: int) -> StageSpace:
    return StageSpace(
        depths=depths,
        widths=_steps(low, high, 16),
        kernel_sizes=(3, 5),
        attentions=(False, True),
        groups=_RESNET_GROUPS,
    )


RESNET50_SPACE = SearchSpace(
    name="resnet50",
    family="resnet",
    stem=StemSpace(widths=_steps(32, 64, 16), kernel_sizes=(7,)),
    stages=(
        _bottleneck_stage((3, 4), 64, 80),
        _bottleneck_stage((4, 5, 6), 128, 160),
        _bottleneck_stage((6, 7, 8), 256, 320),
        _bottleneck_stage((3, 4), 512, 640),
    ),
    head=HeadSpace(widths=_steps(64, 256, 16), kernel_sizes=(4,), groups=_RESNET_GROUPS),
)


def _mobile_stage(
    width: int | tuple[int, ...],
    *,
    depths: tuple[int, ...] = (2, 3, 4),
    kernel_sizes: tuple[int, ...] = (3, 5, 7),
    expand_ratios: tuple[int, ...] = (3, 4, 5, 6),
    channels_per_group: tuple[int, ...] = (1, 2, 4, 8, 16),
    attentions: tuple[bool, ...] = (False, True),
) -> StageSpace:
    return StageSpace(
        depths=depths,
        widths=width if isinstance(width, tuple) else (width,),
        kernel_sizes=kernel_sizes,
        attentions=attentions,
        expand_ratios=expand_ratios,
        channels_per_group=channels_per_group,
    )


MOBILENETV3_SPACE = SearchSpace(
    name="mobilenetv3",
    family="mobilenetv3",
    stem=StemSpace(widths=(16,), kernel_sizes=(3,)),
    stages=(
        StageSpace(
            depths=(1,),
            widths=(16,),
            kernel_sizes=(3,),
            attentions=(False, True),
            expand_ratios=(1,),
            channels_per_group=(1, 2, 4, 8),
        ),
        *(_mobile_stage(width) for width in (24, 40, 80, 112, 160)),
    ),
    head=HeadSpace(widths=(160, 256), kernel_sizes=(4,), channels_per_group=(1, 2, 4, 8)),
)

# A scaled-down MobileNetV3 space with the same structure and every searchable dimension (depth, kernel,
# groups, attention, expansion, head width/groups), about 1/5 the width: for tests and quick demos on 2 cores.
MOBILENETV3_TINY_SPACE = SearchSpace(
    name="mobilenetv3_tiny",
    family="mobilenetv3",
    stem=StemSpace(widths=(8,), kernel_sizes=(3,)),
    stages=(
        StageSpace(depths=(1,), widths=(8,), kernel_sizes=(3,), attentions=(False, True), channels_per_group=(1, 2)),
        *(
            _mobile_stage(width, depths=(1, 2), kernel_sizes=(3, 5), expand_ratios=(2, 3), channels_per_group=(1, 2, 4))
            for width in (8, 16, 16, 24, 32)
        ),
    ),
    head=HeadSpace(widths=(32, 64), kernel_sizes=(4,), channels_per_group=(1, 2, 4)),
)

# The CPU-efficient space (issue 15, a family beside the paper's): choices the deployment runtimes run near peak on
# a CPU. Per-layer profiles of S-ViPNAS-MBv3 under OpenVINO and ONNX Runtime (docs/deploy.md) put grouped
# convolutions of 2-4 channels per group at 8-14 GFLOP/s against ~90 for dense ones, with no gain from int8, and
# grouped or depthwise deconvolutions at 2-4 GFLOP/s. Here the middle convolution is depthwise (1 channel per group,
# which every runtime special-cases) or has 8 or 16 channels per group; kernels go up to 9 (LitePose, Wang et al.
# CVPR 2022: large depthwise kernels buy receptive field cheaply); widths are searched per stage (MobileNetV3's are
# fixed); ReLU throughout; the head upsamples instead of deconvolving (family ``cpu_efficient``). Stage 1 is
# MobileNetV3's: one depthwise block without expansion on the stem's 16 channels.
_CPU_GROUPS = (1, 8, 16)


def _cpu_stage(
    widths: tuple[int, ...], kernel_sizes: tuple[int, ...] = (3, 5, 7, 9), depths: tuple[int, ...] = (1, 2, 3, 4)
) -> StageSpace:
    return _mobile_stage(
        widths, depths=depths, kernel_sizes=kernel_sizes, expand_ratios=(2, 3, 4, 6), channels_per_group=_CPU_GROUPS
    )


CPU_EFFICIENT_SPACE = SearchSpace(
    name="cpu_efficient",
    family="cpu_efficient",
    stem=StemSpace(widths=(16,), kernel_sizes=(3,)),
    stages=(
        StageSpace(depths=(1,), widths=(16,), kernel_sizes=(3,), attentions=(False, True), channels_per_group=(1,)),
        _cpu_stage((16, 24, 32), kernel_sizes=(3, 5, 7)),
        _cpu_stage((24, 32, 40, 48)),
        _cpu_stage((48, 64, 80)),
        _cpu_stage((64, 96, 112)),
        _cpu_stage((96, 128, 160)),
    ),
    head=HeadSpace(widths=(32, 48, 64, 96, 128), kernel_sizes=(3, 5, 7), channels_per_group=_CPU_GROUPS),
)

# A sub-space of the CPU-efficient one sized for real time at 256x192 (issue 15's budget: RTMPose-t's OpenVINO
# latency, ~0.35-0.9 G MACs): every choice is one of CPU_EFFICIENT_SPACE's, narrowed to the smaller widths and
# depths and kernels to 7. A supernet of the whole space spends its largest and random
# paths on archs of 1-5 G MACs, far from the budget; this one trains the region the search looks in, at a quarter of
# the cost per step (OFA-style space shrinking to the target; the full space stays for other budgets).
CPU_EFFICIENT_REALTIME_SPACE = SearchSpace(
    name="cpu_efficient_realtime",
    family="cpu_efficient",
    stem=StemSpace(widths=(16,), kernel_sizes=(3,)),
    stages=(
        StageSpace(depths=(1,), widths=(16,), kernel_sizes=(3,), attentions=(False, True), channels_per_group=(1,)),
        *(
            _cpu_stage(widths, kernel_sizes=(3, 5, 7), depths=depths)
            for widths, depths in (
                ((16, 24), (1, 2)), ((24, 32), (1, 2, 3)), ((48, 64), (1, 2, 3)), ((64, 96), (2, 3, 4)),
                ((96, 128), (1, 2)),
            )
        ),
    ),
    head=HeadSpace(widths=(64, 96, 128), kernel_sizes=(3, 5), channels_per_group=_CPU_GROUPS),
)  # fmt: skip

# The same structure at about 1/4 of the widths (like mobilenetv3_tiny): for the SynthPose preset at 128x96 and tests.
CPU_EFFICIENT_TINY_SPACE = SearchSpace(
    name="cpu_efficient_tiny",
    family="cpu_efficient",
    stem=StemSpace(widths=(8,), kernel_sizes=(3,)),
    stages=(
        StageSpace(depths=(1,), widths=(8,), kernel_sizes=(3,), attentions=(False, True), channels_per_group=(1,)),
        *(
            _mobile_stage(
                widths, depths=(1, 2), kernel_sizes=(3, 5, 7), expand_ratios=(2, 3), channels_per_group=(1, 8)
            )
            for widths in ((8, 16), (16, 24), (16, 24), (24, 32), (32, 48))
        ),
    ),
    head=HeadSpace(widths=(16, 32), kernel_sizes=(3, 5), channels_per_group=(1, 8)),
)

SEARCH_SPACES = {
    space.name: space
    for space in (
        RESNET50_SPACE,
        MOBILENETV3_SPACE,
        MOBILENETV3_TINY_SPACE,
        CPU_EFFICIENT_SPACE,
        CPU_EFFICIENT_REALTIME_SPACE,
        CPU_EFFICIENT_TINY_SPACE,
        HRNET_W32_SPACE,  # an HRNetSearchSpace (vipnas.space.hrnet): not walked block by block
        HRNET_W32_TINY_SPACE,
    )
}

# MMPose ViPNAS_ResNet(depth=50) defaults: wid=[48, 80, 160, 304, 608], expan=[-, 1, 1, 1, 1],
# dep=[-, 4, 6, 7, 3], ks=[7, 3, 5, 5, 5], group=[-, 16, 16, 16, 16], att=[-, True, False, True, True];
# ViPNASHead defaults: deconv 144 filters, kernel 4, 16 groups.
S_VIPNAS_RES50_ARCH = Arch(
    family="resnet",
    stem=StemArch(width=48, kernel_size=7),
    stages=(
        StageArch(depth=4, width=80, kernel_size=3, groups=16, attention=True),
        StageArch(depth=6, width=160, kernel_size=5, groups=16, attention=False),
        StageArch(depth=7, width=304, kernel_size=5, groups=16, attention=True),
        StageArch(depth=3, width=608, kernel_size=5, groups=16, attention=True),
    ),
    head=HeadArch(width=144, kernel_size=4, groups=16),
)

# MMPose ViPNAS_MobileNetV3 defaults: wid=[16, 16, 24, 40, 80, 112, 160], expan=[-, 1, 5, 4, 5, 5, 6],
# dep=[-, 1, 4, 4, 4, 4, 4], ks=[3, 3, 7, 7, 5, 7, 5], group=[-, 8, 120, 20, 100, 280, 240],
# att=[-, True, True, False, True, True, True]; the official head: 160 filters in 160 groups.
S_VIPNAS_MBV3_ARCH = Arch(
    family="mobilenetv3",
    stem=StemArch(width=16, kernel_size=3),
    stages=(
        StageArch(depth=1, width=16, kernel_size=3, groups=8, attention=True, expand_ratio=1),
        StageArch(depth=4, width=24, kernel_size=7, groups=120, attention=True, expand_ratio=5),
        StageArch(depth=4, width=40, kernel_size=7, groups=20, attention=False, expand_ratio=4),
        StageArch(depth=4, width=80, kernel_size=5, groups=100, attention=True, expand_ratio=5),
        StageArch(depth=4, width=112, kernel_size=7, groups=280, attention=True, expand_ratio=5),
        StageArch(depth=4, width=160, kernel_size=5, groups=240, attention=True, expand_ratio=6),
    ),
    head=HeadArch(width=160, kernel_size=4, groups=160),
)

# SimpleBaseline ResNet-50 (Xiao et al. 2018): the standard ResNet-50 (Bottleneck expansion 4, dense 3x3)
# with three 256-filter deconvolutions. It is a member of the ResNet family, not of the ViPNAS space.
SBL_RES50_ARCH = Arch(
    family="resnet",
    stem=StemArch(width=64, kernel_size=7),
    stages=(
        StageArch(depth=3, width=64, kernel_size=3, groups=1, attention=False, expand_ratio=4),
        StageArch(depth=4, width=128, kernel_size=3, groups=1, attention=False, expand_ratio=4),
        StageArch(depth=6, width=256, kernel_size=3, groups=1, attention=False, expand_ratio=4),
        StageArch(depth=3, width=512, kernel_size=3, groups=1, attention=False, expand_ratio=4),
    ),
    head=HeadArch(width=256, kernel_size=4, groups=1),
)


def get_search_space(name: str) -> SearchSpace | HRNetSearchSpace:
    """Look a search space up by name (``resnet50``, ``mobilenetv3``, ``cpu_efficient``, ``hrnet_w32``, their
    ``_tiny`` versions; ``resnet``, ``mbv3``, ``cpu`` and ``hrnet`` also work). The HRNet spaces are
    :class:`~vipnas.space.hrnet.HRNetSearchSpace` objects, the others :class:`SearchSpace` objects."""
    aliases = {
        "resnet": "resnet50",
        "res50": "resnet50",
        "mbv3": "mobilenetv3",
        "mobilenet_v3": "mobilenetv3",
        "cpu": "cpu_efficient",
        "hrnet": "hrnet_w32",
        "hrnet_tiny": "hrnet_w32_tiny",
    }
    key = aliases.get(name.lower(), name.lower())
    if key not in SEARCH_SPACES:
        raise ValueError(f"unknown search space {name!r}; expected one of {sorted(SEARCH_SPACES)}")
    return SEARCH_SPACES[key]


def space_for_family(family: str) -> SearchSpace:
    """The full search space of a family."""
    return {"resnet": RESNET50_SPACE, "mobilenetv3": MOBILENETV3_SPACE, "cpu_efficient": CPU_EFFICIENT_SPACE}[family]
