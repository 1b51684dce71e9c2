"""State-dict key mapping between :func:`vipnas.nn.hrnet.build_hrnet` and MMPose 1.x HRNet checkpoints.

MMPose's ``TopdownPoseEstimator`` with ``HRNet`` + ``HeatmapHead(deconv_out_channels=None)`` stores ``backbone.*`` and
``head.*``; ours differ only in module names (the tensors, their shapes and their order are the same), so every key
maps to exactly one key and back:

==================================================  ===========================================================
vipnas                                              MMPose
==================================================  ===========================================================
``backbone.stem.0.conv`` / ``.0.bn``                ``backbone.conv1`` / ``backbone.bn1`` (``.1``: ``conv2``/``bn2``)
``backbone.stages.0.<b>.<layer>``                   ``backbone.layer1.<b>.<layer>``
``backbone.stages.<k>.transition.<i>.conv|bn``      ``backbone.transition<k>.<i>.0|1``; the new branch ``i == k``:
                                                    ``backbone.transition<k>.<k>.0.0|1``
``backbone.stages.<k>.hr_modules.<m>.branches...``  ``backbone.stage<k+1>.<m>.branches...``
``...hr_modules.<m>.fuse.<i>.<j>.conv|bn`` (j > i)  ``...stage<k+1>.<m>.fuse_layers.<i>.<j>.0|1``
``...hr_modules.<m>.fuse.<i>.<j>.<c>.conv|bn``      ``...stage<k+1>.<m>.fuse_layers.<i>.<j>.<c>.0|1`` (j < i)
``head.final_layer``                                ``head.final_layer``
==================================================  ===========================================================

Both directions are strict: a key that matches none of these (for instance an SE block's, which MMPose's HRNet does
not have) is a ValueError naming it. :func:`hrnet_from_mmpose_keys` also reads MMPose 0.x names (``keypoint_head.``)
and DataParallel's ``module.`` prefix, and drops ``data_preprocessor.*``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

import torch

__all__ = ["hrnet_from_mmpose_keys", "hrnet_to_mmpose_keys"]

_TENSOR = r"(?P<tensor>weight|bias|running_mean|running_var|num_batches_tracked)"
_BLOCK_LAYER = r"(?P<layer>conv[123]|bn[123]|downsample\.[01])"
_BASIC_LAYER = r"(?P<layer>conv[12]|bn[12])"
_CONV_OR_BN = {"conv": "0", "bn": "1"}
_INDEX_OF = {"0": "conv", "1": "bn"}

Rule = tuple[re.Pattern[str], Callable[[re.Match[str]], str]]


def _rule(pattern: str, build: Callable[[re.Match[str]], str]) -> Rule:
    return re.compile(pattern + r"\." + _TENSOR + "$"), build


def _new_branch(match: re.Match[str]) -> bool:
    # our stage k (0-based) = MMPose's transition<k> target has k + 1 branches, the previous stage k: the
    # transition creates branch k (a Sequential of one conv-BN-ReLU in MMPose, one level deeper than the others)
    return int(match["branch"]) == int(match["stage"])


def _transition_from_mmpose(match: re.Match[str]) -> str:
    if _new_branch(match) != bool(match["new"]):
        expected = "transition<k>.<k>.0.<0|1>" if _new_branch(match) else "transition<k>.<i>.<0|1>"
        raise ValueError(f"from MMPose: key {match.string!r} is no HRNet transition tensor (expected {expected})")
    return f"backbone.stages.{match['stage']}.transition.{match['branch']}.{_INDEX_OF[match['index']]}"


_TO_MMPOSE: list[Rule] = [
    _rule(
        r"backbone\.stem\.(?P<index>[01])\.(?P<kind>conv|bn)", lambda m: f"backbone.{m['kind']}{int(m['index']) + 1}"
    ),
    _rule(
        r"backbone\.stages\.0\.(?P<block>\d+)\." + _BLOCK_LAYER, lambda m: f"backbone.layer1.{m['block']}.{m['layer']}"
    ),
    _rule(
        r"backbone\.stages\.(?P<stage>[1-9]\d*)\.transition\.(?P<branch>\d+)\.(?P<kind>conv|bn)",
        lambda m: (
            f"backbone.transition{m['stage']}.{m['branch']}.{'0.' if _new_branch(m) else ''}" + _CONV_OR_BN[m["kind"]]
        ),
    ),
    _rule(
        r"backbone\.stages\.(?P<stage>[1-9]\d*)\.hr_modules\.(?P<module>\d+)\.branches\.(?P<branch>\d+)\.(?P<block>\d+)\."
        + _BASIC_LAYER,
        lambda m: f"backbone.stage{int(m['stage']) + 1}.{m['module']}.branches.{m['branch']}.{m['block']}.{m['layer']}",
    ),
    _rule(
        r"backbone\.stages\.(?P<stage>[1-9]\d*)\.hr_modules\.(?P<module>\d+)\.fuse\.(?P<path>\d+\.\d+(?:\.\d+)?)\."
        r"(?P<kind>conv|bn)",
        lambda m: (
            f"backbone.stage{int(m['stage']) + 1}.{m['module']}.fuse_layers.{m['path']}." + _CONV_OR_BN[m["kind"]]
        ),
    ),
    _rule(r"head\.final_layer", lambda m: "head.final_layer"),
]

_FROM_MMPOSE: list[Rule] = [
    _rule(r"backbone\.(?P<kind>conv|bn)(?P<index>[12])", lambda m: f"backbone.stem.{int(m['index']) - 1}.{m['kind']}"),
    _rule(
        r"backbone\.layer1\.(?P<block>\d+)\." + _BLOCK_LAYER, lambda m: f"backbone.stages.0.{m['block']}.{m['layer']}"
    ),
    _rule(
        r"backbone\.transition(?P<stage>[1-9]\d*)\.(?P<branch>\d+)\.(?P<new>0\.)?(?P<index>[01])",
        _transition_from_mmpose,
    ),
    _rule(
        r"backbone\.stage(?P<stage>[2-9]|[1-9]\d+)\.(?P<module>\d+)\.branches\.(?P<branch>\d+)\.(?P<block>\d+)\."
        + _BASIC_LAYER,
        lambda m: (
            f"backbone.stages.{int(m['stage']) - 1}.hr_modules.{m['module']}.branches.{m['branch']}."
            f"{m['block']}.{m['layer']}"
        ),
    ),
    _rule(
        r"backbone\.stage(?P<stage>[2-9]|[1-9]\d+)\.(?P<module>\d+)\.fuse_layers\.(?P<path>\d+\.\d+(?:\.\d+)?)\."
        r"(?P<index>[01])",
        lambda m: (
            f"backbone.stages.{int(m['stage']) - 1}.hr_modules.{m['module']}.fuse.{m['path']}." + _INDEX_OF[m["index"]]
        ),
    ),
    _rule(r"head\.final_layer", lambda m: "head.final_layer"),
]


def _rename(key: str, rules: list[Rule], direction: str) -> str:
    for pattern, build in rules:
        match = pattern.match(key)
        if match:
            return f"{build(match)}.{match['tensor']}"
    raise ValueError(f"{direction}: key {key!r} has no counterpart (MMPose's HRNet + HeatmapHead have no such tensor)")


def hrnet_to_mmpose_keys(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename our HRNet state dict (``build_hrnet(...).state_dict()``) to MMPose 1.x keys, tensors unchanged.

    Raises:
        ValueError: naming a key that MMPose's HRNet has no counterpart for (e.g. an SE attention block's).
    """
    return {_rename(key, _TO_MMPOSE, "to MMPose"): value for key, value in state_dict.items()}


def hrnet_from_mmpose_keys(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename an MMPose HRNet state dict (1.x ``backbone.*``/``head.*``; 0.x ``keypoint_head.*`` too) to ours.

    Raises:
        ValueError: naming a key that is no tensor of MMPose's HRNet + HeatmapHead.
    """
    converted: dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        original = key
        key = key.removeprefix("module.")
        if key.startswith("data_preprocessor."):
            continue  # normalisation constants; not part of the network
        if key.startswith("keypoint_head."):
            key = "head." + key.removeprefix("keypoint_head.")
        renamed = _rename(key, _FROM_MMPOSE, "from MMPose")
        if renamed in converted:
            raise ValueError(f"from MMPose: key {original!r} duplicates another key (both map to {renamed!r})")
        converted[renamed] = value
    return converted
