"""Our static networks against an independent transcription of MMPose's modules (``mmpose_reference.py``).

The reference is written from MMPose/mmcv source with MMPose's attribute names, so its ``state_dict()`` is an
MMPose 1.x checkpoint.  These tests only use our public API (``create_model``, ``to_mmpose_keys``,
``convert_mmpose_checkpoint``, ``measure_complexity``).  The same claims are checked against the real MMPose
packages by ``benchmarks/mmpose_equivalence.py`` (needs a separate MMPose virtualenv).
"""

from __future__ import annotations

import re

import pytest
import torch
from mmpose_reference import MMPOSE_PARAM_COUNTS, REFERENCE_NAMES, build_reference, randomize_

from vipnas import create_model
from vipnas.models.complexity import measure_complexity
from vipnas.models.mmpose import convert_mmpose_checkpoint, to_mmpose_keys

INPUT = (1, 3, 256, 192)


def _inputs(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(1000 + seed)
    return torch.randn(2, *INPUT[1:], generator=gen), torch.randn(*INPUT, generator=gen)


def _assert_same(out: torch.Tensor, ref: torch.Tensor) -> None:
    assert out.shape == ref.shape == (INPUT[0], 17, INPUT[2] // 4, INPUT[3] // 4)
    scale = ref.abs().max().item()
    assert scale > 1e-2, "degenerate reference output; the comparison would prove nothing"
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5 * scale)


def _assert_all_randomized(before: dict[str, torch.Tensor], model: torch.nn.Module) -> None:
    same = [k for k, v in model.state_dict().items() if v.is_floating_point() and torch.equal(v, before[k])]
    assert not same, f"randomize_ did not touch {same[:5]}"


def _save(path, state: dict[str, torch.Tensor], head_prefix: str = "head.") -> None:
    renamed = {(head_prefix + k[len("head.") :] if k.startswith("head.") else k): v.clone() for k, v in state.items()}
    torch.save({"meta": {"mmpose_version": "reference", "note": "test"}, "state_dict": renamed}, path)


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """These small forwards are much faster single-threaded, and immune to a CPU shared with other jobs."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def randomized_reference():
    """One randomised reference per name (built lazily, shared across the tests of this module)."""
    cache: dict[str, tuple[torch.nn.Module, dict[str, torch.Tensor]]] = {}

    def get(name: str):
        if name not in cache:
            ref = build_reference(name)
            before = {k: v.clone() for k, v in ref.state_dict().items()}
            calib, _ = _inputs(0)
            randomize_(ref, seed=REFERENCE_NAMES.index(name), calibrate_input=calib)
            _assert_all_randomized(before, ref)
            cache[name] = (ref, {k: v.clone() for k, v in ref.state_dict().items()})
        return cache[name]

    return get


@pytest.mark.parametrize("name", REFERENCE_NAMES)
def test_state_dict_keys_and_shapes_match_mmpose(name):
    ref_state = build_reference(name).state_dict()
    ours = create_model(name)
    converted = to_mmpose_keys(ours.state_dict(), ours.arch)
    missing = sorted(set(ref_state) - set(converted))
    extra = sorted(set(converted) - set(ref_state))
    assert not missing and not extra, f"missing {missing[:5]}, extra {extra[:5]}"
    shapes = {k: (tuple(converted[k].shape), tuple(v.shape)) for k, v in ref_state.items()}
    assert {k: s for k, s in shapes.items() if s[0] != s[1]} == {}


@pytest.mark.parametrize("name", REFERENCE_NAMES)
def test_parameter_counts_match_mmpose(name):
    ref_params = sum(p.numel() for p in build_reference(name).parameters())
    ours = create_model(name)
    assert ref_params == MMPOSE_PARAM_COUNTS[name]
    assert sum(p.numel() for p in ours.parameters()) == MMPOSE_PARAM_COUNTS[name]
    assert measure_complexity(ours).params == MMPOSE_PARAM_COUNTS[name]


@pytest.mark.parametrize("style", ["1.x", "0.x"])
@pytest.mark.parametrize("name", REFERENCE_NAMES)
def test_mmpose_checkpoint_loads_and_reproduces_heatmaps(name, style, tmp_path, randomized_reference):
    ref, state = randomized_reference(name)
    path = tmp_path / f"{name}.pth"
    _save(path, state, head_prefix="head." if style == "1.x" else "keypoint_head.")
    ours = convert_mmpose_checkpoint(path, name)
    assert not ours.training
    _, x = _inputs(0)
    with torch.no_grad():
        _assert_same(ours(x), ref(x))


def test_comparison_detects_a_one_percent_change(tmp_path, randomized_reference):
    """Negative control: the tolerance above is tight enough to see a 1% change of one BN variance."""
    ref, state = randomized_reference("s_vipnas_mbv3")
    key = "backbone.layer12.depthwise_conv.bn.running_var"
    path = tmp_path / "perturbed.pth"
    _save(path, {**state, key: state[key] * 1.01})
    _, x = _inputs(0)
    with torch.no_grad(), pytest.raises(AssertionError):
        _assert_same(convert_mmpose_checkpoint(path, "s_vipnas_mbv3")(x), ref(x))


@pytest.mark.parametrize("name", REFERENCE_NAMES)
def test_our_weights_load_strictly_into_mmpose_modules(name):
    ours = create_model(name)
    before = {k: v.clone() for k, v in ours.state_dict().items()}
    calib, x = _inputs(1)
    randomize_(ours, seed=50 + REFERENCE_NAMES.index(name), calibrate_input=calib)
    _assert_all_randomized(before, ours)
    ref = build_reference(name)
    ref.load_state_dict(to_mmpose_keys(ours.state_dict(), ours.arch), strict=True)
    ref.eval()
    with torch.no_grad():
        _assert_same(ours(x), ref(x))


def _convert_error(tmp_path, name: str, state: dict[str, torch.Tensor]) -> str:
    path = tmp_path / "broken.pth"
    _save(path, state)
    with pytest.raises(ValueError) as info:
        convert_mmpose_checkpoint(path, name)
    return str(info.value)


def _names_key(message: str, mmpose_key: str, model_name: str) -> bool:
    """Whether ``message`` names the key, under its MMPose name or under our name for it."""
    if re.search(re.escape(mmpose_key) + r"\b", message):
        return True
    ours = create_model(model_name)
    our_names = [k for k in ours.state_dict() if to_mmpose_keys({k: None}, ours.arch).keys() == {mmpose_key}]
    return any(re.search(re.escape(k) + r"\b", message) for k in our_names)


# one key deep in a backbone stage and one in the head, for a ResNet and a MobileNet family
BROKEN_CASES = [
    ("s_vipnas_res50", "backbone.layer3.2.attention.channel_add_conv.1.weight"),
    ("s_vipnas_res50", "head.deconv_layers.4.running_var"),
    ("s_vipnas_mbv3", "backbone.layer14.se.conv2.conv.weight"),
    ("s_vipnas_mbv3", "backbone.layer12.depthwise_conv.bn.running_mean"),
]


@pytest.mark.parametrize(("name", "key"), BROKEN_CASES)
def test_missing_key_is_named(name, key, tmp_path):
    state = build_reference(name).state_dict()
    del state[key]
    message = _convert_error(tmp_path, name, state)
    assert "missing" in message and _names_key(message, key, name), message


@pytest.mark.parametrize("name", ["s_vipnas_res50", "s_vipnas_mbv3"])
def test_extra_key_is_named(name, tmp_path):
    state = build_reference(name).state_dict()
    state["backbone.layer2.extra_branch.weight"] = torch.zeros(3)
    message = _convert_error(tmp_path, name, state)
    assert "unexpected" in message and "extra_branch.weight" in message, message


@pytest.mark.parametrize(("name", "key"), BROKEN_CASES)
def test_wrong_shape_is_named(name, key, tmp_path):
    state = build_reference(name).state_dict()
    state[key] = torch.zeros(*state[key].shape, 2)
    message = _convert_error(tmp_path, name, state)
    assert "shape" in message and _names_key(message, key, name), message


def test_error_names_the_checkpoint_key_itself(tmp_path):
    key = "backbone.layer3.depthwise_conv.bn.running_mean"
    state = build_reference("s_vipnas_mbv3").state_dict()
    state[key] = torch.zeros(7)
    assert key in _convert_error(tmp_path, "s_vipnas_mbv3", state)
