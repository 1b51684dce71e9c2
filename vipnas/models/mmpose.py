"""Loading MMPose checkpoints of the S-ViPNAS networks (and SimpleBaseline ResNet-50) into vipnas models.

MMPose 1.x keys are ``backbone.*`` / ``head.*``; MMPose 0.x (and the official ViPNAS release) store the head as
``keypoint_head.*``. Module names differ from ours only by renaming (listed in ``_RESNET_RULES`` and
``_MOBILENET_RULES``); MMPose's MobileNetV3 numbers its blocks ``layer1..layerN`` across stages, which are
mapped to ``stages.<stage>.<block>`` from the arch's depths. Conversion is strict: a missing or unexpected key
or a shape mismatch is an error that lists them all.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch

from vipnas.models.checkpoint import read_foreign_checkpoint
from vipnas.models.pose import PoseNetwork
from vipnas.space.arch import Arch

__all__ = ["convert_mmpose_checkpoint", "convert_mmpose_state_dict", "from_mmpose_keys", "to_mmpose_keys"]

# (MMPose pattern, vipnas replacement) applied in order to the part after "backbone." / "head."
_RESNET_RULES = [
    (r"^conv1\.", "stem.conv."),
    (r"^bn1\.", "stem.bn."),
    (r"\.attention\.conv_mask\.", ".attention.mask."),
    (r"\.attention\.channel_add_conv\.", ".attention.transform."),
]
_MOBILENET_RULES = [
    (r"^conv1\.conv\.", "stem.conv."),
    (r"^conv1\.bn\.", "stem.bn."),
    (r"\.expand_conv\.", ".expand."),
    (r"\.depthwise_conv\.", ".middle."),
    (r"\.linear_conv\.", ".project."),
    (r"\.se\.conv1\.conv\.", ".attention.reduce."),
    (r"\.se\.conv2\.conv\.", ".attention.expand."),
]
_IGNORED_PREFIXES = ("data_preprocessor.",)


def _block_index(arch: Arch) -> list[tuple[int, int]]:
    """MMPose MobileNetV3 ``layer<n>`` (1-based, across stages) -> (stage, block)."""
    return [(stage, block) for stage, s in enumerate(arch.stages) for block in range(s.depth)]


def _rename_from_mmpose(key: str, arch: Arch, blocks: list[tuple[int, int]]) -> str | None:
    """vipnas's name for one MMPose key (``None`` for keys that carry no weights of the network)."""
    if key.startswith("module."):
        key = key[len("module.") :]
    if key.startswith(_IGNORED_PREFIXES):
        return None
    if key.startswith("keypoint_head."):
        key = "head." + key[len("keypoint_head.") :]
    if not key.startswith("backbone."):
        return key
    rest = key[len("backbone.") :]
    if arch.family == "resnet":
        rest = re.sub(r"^layer(\d+)\.", lambda m: f"stages.{int(m.group(1)) - 1}.", rest)
        rules = _RESNET_RULES
    else:
        match = re.match(r"^layer(\d+)\.", rest)
        if match and 1 <= int(match.group(1)) <= len(blocks):
            stage, block = blocks[int(match.group(1)) - 1]
            rest = f"stages.{stage}.{block}." + rest[match.end() :]
        rules = _MOBILENET_RULES
    for pattern, replacement in rules:
        rest = re.sub(pattern, replacement, rest)
    return "backbone." + rest


def from_mmpose_keys(state: dict[str, torch.Tensor], arch: Arch) -> dict[str, torch.Tensor]:
    """Rename an MMPose state dict (0.x or 1.x) to vipnas's module names for ``arch``'s family."""
    blocks = _block_index(arch)
    converted: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        new = _rename_from_mmpose(key, arch, blocks)
        if new is not None:
            converted[new] = value
    return converted


def to_mmpose_keys(state: dict[str, torch.Tensor], arch: Arch) -> dict[str, torch.Tensor]:
    """The inverse of :func:`from_mmpose_keys` (MMPose 1.x names), e.g. to load our weights into MMPose."""
    blocks = {pair: index + 1 for index, pair in enumerate(_block_index(arch))}
    rules = _RESNET_RULES if arch.family == "resnet" else _MOBILENET_RULES
    converted: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if key.startswith("backbone."):
            rest = key[len("backbone.") :]
            # undo the renames in reverse order: ".attention.expand." must become ".se.conv2.conv." before the
            # ".expand." -> ".expand_conv." rule could turn it into ".attention.expand_conv."
            for pattern, replacement in reversed(rules):
                original = pattern.replace("\\", "").lstrip("^")
                if replacement.startswith("."):
                    rest = rest.replace(replacement, original)
                elif rest.startswith(replacement):
                    rest = original + rest[len(replacement) :]
            match = re.match(r"^stages\.(\d+)\.(\d+)\.", rest)
            if match:
                stage, block = int(match.group(1)), int(match.group(2))
                if arch.family == "resnet":
                    rest = f"layer{stage + 1}.{block}." + rest[match.end() :]
                else:
                    rest = f"layer{blocks[(stage, block)]}." + rest[match.end() :]
            key = "backbone." + rest
        converted[key] = value
    return converted


def convert_mmpose_state_dict(
    state: dict[str, Any], model: PoseNetwork, *, source: str = "checkpoint"
) -> dict[str, torch.Tensor]:
    """Rename and check an MMPose state dict against ``model``.

    Raises:
        ValueError: listing every missing key, unexpected key and shape mismatch.
    """
    if model.arch is None:
        raise ValueError("the target model has no arch; MMPose conversion needs one of the ViPNAS/SBL families")
    blocks = _block_index(model.arch)
    converted: dict[str, torch.Tensor] = {}
    original: dict[str, str] = {}  # vipnas name -> the checkpoint's own name, for error messages
    for key, value in state.items():
        new = _rename_from_mmpose(key, model.arch, blocks) if isinstance(value, torch.Tensor) else None
        if new is not None:
            converted[new], original[new] = value, key
    expected = model.state_dict()
    # checkpoints from before PyTorch 0.4.1 have no BatchNorm step counters; they carry no information
    missing = [k for k in expected if k not in converted and not k.endswith("num_batches_tracked")]
    unexpected = [original[k] for k in converted if k not in expected]
    mismatched = [
        f"{original[k]}: checkpoint {tuple(converted[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in converted
        if k in expected and converted[k].shape != expected[k].shape
    ]
    if missing or unexpected or mismatched:
        missing = list(to_mmpose_keys(dict.fromkeys(missing), model.arch))  # named as MMPose 1.x names them
        lines = [f"{source} does not match {model.metadata.name} (keys as MMPose names them):"]
        for title, items in (
            ("missing keys", missing),
            ("unexpected keys", unexpected),
            ("shape mismatches", mismatched),
        ):
            if items:
                lines.append(
                    f"  {title} ({len(items)}): " + ", ".join(items[:20]) + (" ..." if len(items) > 20 else "")
                )
        raise ValueError("\n".join(lines))
    for key in expected:
        if key not in converted:
            converted[key] = expected[key].clone()
    return converted


def convert_mmpose_checkpoint(path: str | Path, model_name: str) -> torch.nn.Module:
    """Build ``model_name`` and load an MMPose checkpoint (0.x or 1.x) into it.

    Returns:
        The model in eval mode.
    """
    from vipnas.models.registry import ARCH_OF, create_model

    if model_name not in (*ARCH_OF, "hrnet_w32"):
        raise ValueError(f"MMPose conversion supports {sorted([*ARCH_OF, 'hrnet_w32'])}; got {model_name!r}")
    raw = read_foreign_checkpoint(path)
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: no state dict found: expected a dict, found a {type(raw).__name__}")
    # MMPose saves {"meta", "state_dict", "optimizer", ...}; a bare state dict maps names to tensors
    state = raw.get("state_dict", raw)
    has_tensors = isinstance(state, dict) and any(isinstance(value, torch.Tensor) for value in state.values())
    if not has_tensors and "state_dict" in raw:
        size = f" of {len(state)} entries" if isinstance(state, dict) else ""
        raise ValueError(f"{path}: its 'state_dict' holds no tensors (found a {type(state).__name__}{size})")
    if not has_tensors:
        found = [str(key) for key in raw][:8]
        raise ValueError(
            f"{path}: no state dict found: expected a 'state_dict' entry or a dict of tensors, "
            f"found top-level keys {sorted(found)}"
        )
    model = create_model(model_name)
    if model_name == "hrnet_w32":
        model.load_state_dict(_convert_hrnet_state_dict(state, model, source=str(path)), strict=True)
        return model.eval()
    assert isinstance(model, PoseNetwork)
    model.load_state_dict(convert_mmpose_state_dict(state, model, source=str(path)), strict=True)
    return model.eval()


def _convert_hrnet_state_dict(state: dict[str, Any], model: torch.nn.Module, *, source: str) -> dict[str, torch.Tensor]:
    """An MMPose HRNet-W32 state dict renamed to ``model``'s keys (:mod:`vipnas.models.hrnet_mmpose`), checked.

    Raises:
        ValueError: a key with no counterpart, or missing keys / shape mismatches (named as MMPose names them).
    """
    from vipnas.models.hrnet_mmpose import hrnet_from_mmpose_keys, hrnet_to_mmpose_keys

    try:
        converted = hrnet_from_mmpose_keys({k: v for k, v in state.items() if isinstance(v, torch.Tensor)})
    except ValueError as error:
        raise ValueError(f"{source} is not an MMPose HRNet-W32 checkpoint: {error}") from None
    expected = model.state_dict()
    missing = [k for k in expected if k not in converted and not k.endswith("num_batches_tracked")]
    mismatched = [
        f"{k}: checkpoint {tuple(converted[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in converted
        if k in expected and converted[k].shape != expected[k].shape
    ]
    if missing or mismatched:
        named = list(hrnet_to_mmpose_keys(dict.fromkeys(missing)))  # type: ignore[arg-type]
        parts = [f"missing keys ({len(named)}): " + ", ".join(named[:20])] if named else []
        parts += [f"shape mismatches ({len(mismatched)}): " + ", ".join(mismatched[:20])] if mismatched else []
        raise ValueError(f"{source} does not match hrnet_w32 (keys as MMPose names them): " + "; ".join(parts))
    for key in expected:
        converted.setdefault(key, expected[key].clone())
    return converted
