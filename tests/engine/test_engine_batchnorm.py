"""BN recalibration is exact averaging that touches only the running statistics of the arch's BatchNorms;
frozen_bn_stats leaves running statistics bitwise untouched."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

import vipnas
from vipnas.engine.batchnorm import BATCH_NORMS, collect_batches, frozen_bn_stats, recalibrate_bn
from vipnas.space import MOBILENETV3_SPACE


def _batches(*sizes: int, seed: int = 1) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(n, 3, 64, 64, generator=generator) for n in sizes]


def _reference_statistics(
    model: nn.Module, batches: list[torch.Tensor]
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Per BN: mean of its input over all images and pixels, and the batch-size-weighted mean of the per-batch
    unbiased variances, from an independent train-mode pass over a copy."""
    model = copy.deepcopy(model).train()
    inputs: dict[str, list[torch.Tensor]] = {}
    for name, module in model.named_modules():
        if isinstance(module, BATCH_NORMS):
            module.register_forward_pre_hook(lambda m, x, name=name: inputs.setdefault(name, []).append(x[0].double()))
    with torch.no_grad():
        for batch in batches:
            model(batch)
    result = {}
    for name, xs in inputs.items():
        count = sum(x.shape[0] for x in xs)
        mean = torch.cat(xs).mean(dim=(0, 2, 3))
        var = sum(x.shape[0] * x.var(dim=(0, 2, 3), unbiased=True) for x in xs) / count
        result[name] = (mean, var)
    return result


def test_static_recalibration_is_the_exact_average_and_touches_only_running_statistics(randomized) -> None:
    model = randomized(vipnas.create_model(MOBILENETV3_SPACE.smallest(), input_size=(64, 64))).eval()
    batches = _batches(3, 5)  # unequal sizes: images, not batches, are weighted equally
    expected = _reference_statistics(model, batches)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    returned = recalibrate_bn(model, None, batches)
    assert returned is model and not model.training and not any(m.training for m in model.modules())
    after = model.state_dict()
    for name, module in model.named_modules():
        if isinstance(module, BATCH_NORMS):
            mean, var = expected[name]
            torch.testing.assert_close(module.running_mean.double(), mean, rtol=1e-5, atol=1e-6)
            torch.testing.assert_close(module.running_var.double(), var, rtol=1e-5, atol=1e-6)
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.endswith(("running_mean", "running_var")) for k in changed)
    # order of the batches does not matter (float64 accumulation)
    again = recalibrate_bn(copy.deepcopy(model), None, list(reversed(batches)))
    for key in changed:
        torch.testing.assert_close(again.state_dict()[key], after[key], rtol=1e-6, atol=1e-7)
    with pytest.raises(ValueError, match="own arch"):
        recalibrate_bn(model, MOBILENETV3_SPACE.largest(), batches)


def test_supernet_recalibration_in_place_equals_recalibrating_the_extracted_subnet(randomized) -> None:
    supernet = randomized(vipnas.create_model("mobilenetv3_supernet", input_size=(64, 64))).eval()
    smallest, largest = supernet.space.smallest(), supernet.space.largest()
    batches = _batches(4, 4)
    subnet = recalibrate_bn(supernet.extract_subnet(smallest), None, batches)
    largest_before = supernet.extract_subnet(largest).state_dict()
    before = {k: v.clone() for k, v in supernet.state_dict().items()}

    recalibrate_bn(supernet, smallest, batches)

    assert supernet.arch == largest  # the active arch is restored
    in_place = supernet.extract_subnet(smallest).eval()
    x = _batches(2, seed=9)[0]
    with torch.no_grad():
        torch.testing.assert_close(in_place(x), subnet.eval()(x), rtol=1e-5, atol=1e-5)
    changed = {k for k, v in supernet.state_dict().items() if not torch.equal(v, before[k])}
    assert changed and all(k.endswith(("running_mean", "running_var")) for k in changed)
    # BN channels and blocks the smallest arch does not use keep the largest's statistics
    small_keys = in_place.state_dict()
    for key, value in supernet.extract_subnet(largest).state_dict().items():
        if key not in small_keys:
            assert torch.equal(value, largest_before[key]), key
        elif key.endswith(("running_mean", "running_var")):
            used = small_keys[key].shape[0]
            assert torch.equal(value[used:], largest_before[key][used:]), key


def test_frozen_bn_stats_leaves_running_statistics_untouched(randomized) -> None:
    supernet = randomized(vipnas.create_model("mobilenetv3_supernet", input_size=(64, 64))).train()
    supernet.activate(supernet.space.smallest())
    buffers = {k: v.clone() for k, v in supernet.state_dict().items() if "running" in k or "num_batches" in k}
    x = _batches(2)[0]
    with frozen_bn_stats(supernet):
        supernet(x).sum().backward()
    assert all(torch.equal(v, supernet.state_dict()[k]) for k, v in buffers.items())
    assert all(m.momentum == 0.1 for m in supernet.modules() if isinstance(m, BATCH_NORMS))
    supernet(x)
    assert any(not torch.equal(v, supernet.state_dict()[k]) for k, v in buffers.items())


def test_collect_batches_keeps_images_of_the_first_batches() -> None:
    class Item:
        def __init__(self, image: torch.Tensor) -> None:
            self.image = image

    loader = [Item(torch.full((2, 3, 4, 4), float(i))) for i in range(5)]
    batches = collect_batches(loader, 3)
    assert [b[0, 0, 0, 0].item() for b in batches] == [0.0, 1.0, 2.0]
    with pytest.raises(ValueError, match="no batches"):
        collect_batches([], 2)
