"""Elastic operators (paper §A.1): each holds one max-size weight, runs a slice of it chosen by its active
configuration, and can emit its static ``torch.nn`` twin with the slice copied.

Slicing conventions:

* width: the first ``out_channels`` filters (and, downstream, the first input channels);
* kernel size: the centred KxK crop of the max kernel (sizes keep the max kernel's parity);
* group number: for ``g`` groups the filter is ``O x I/g x K x K``, keeping the **first** ``I/g`` input slots
  of every filter (Fig. A3), so the stored weight only needs the largest ``I/g`` that the space allows;
* BatchNorm and LayerNorm: the first active channels of affine parameters and running statistics. Slices of
  the running buffers are views, so training-mode statistics updates land in the shared buffers.

The active configuration is explicit state, set by the owning block's ``activate`` and validated there and
here; ``forward`` checks that the input has the configured channel count.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vipnas.nn.layers import deconv_padding

__all__ = [
    "ElasticBatchNorm2d",
    "ElasticConv2d",
    "ElasticConvTranspose2d",
    "ElasticLayerNorm",
    "ElasticModule",
    "centre_crop",
]


class ElasticModule(nn.Module):
    """Base of all elastic operators: an active slice, its state dict and its static twin."""

    def active_state_dict(self) -> dict[str, torch.Tensor]:
        """Tensors of the active slice, keyed like the static twin's ``state_dict`` (detached clones)."""
        raise NotImplementedError

    def to_static(self) -> nn.Module:
        """A plain ``torch.nn`` module computing the active slice, with copied weights."""
        raise NotImplementedError

    def _check_widths(self, in_channels: int, out_channels: int) -> None:
        max_in, max_out = self.max_in_channels, self.max_out_channels  # type: ignore[attr-defined]
        if not 0 < in_channels <= max_in or not 0 < out_channels <= max_out:
            raise ValueError(
                f"{type(self).__name__}: active width {in_channels}->{out_channels} exceeds the max {max_in}->{max_out}"
            )

    def _check_input(self, x: torch.Tensor, channels: int) -> None:
        if x.shape[1] != channels:
            raise RuntimeError(
                f"{type(self).__name__} is configured for {channels} input channels but received {x.shape[1]}"
            )


def centre_crop(weight: torch.Tensor, kernel_size: int) -> torch.Tensor:
    """The centred ``kernel_size`` x ``kernel_size`` window of a (…, K, K) kernel."""
    full = weight.shape[-1]
    start = (full - kernel_size) // 2
    return weight[..., start : start + kernel_size, start : start + kernel_size]


def _check_kernel(kernel_size: int, max_kernel_size: int, owner: str) -> None:
    if not 1 <= kernel_size <= max_kernel_size or (max_kernel_size - kernel_size) % 2:
        raise ValueError(
            f"{owner}: kernel size {kernel_size} is not a centred crop of the max kernel {max_kernel_size} "
            f"(it must be <= {max_kernel_size} and differ from it by an even number)"
        )


def _check_groups(in_channels: int, out_channels: int, groups: int, per_group_capacity: int, owner: str) -> None:
    if groups < 1 or in_channels % groups or out_channels % groups:
        raise ValueError(
            f"{owner}: group number {groups} must divide both the active input ({in_channels}) "
            f"and output ({out_channels}) channels"
        )
    if in_channels // groups > per_group_capacity:
        raise ValueError(
            f"{owner}: {groups} groups over {in_channels} channels need {in_channels // groups} input channels "
            f"per group, but the supernet weight holds at most {per_group_capacity}"
        )


class ElasticConv2d(ElasticModule):
    """2-D convolution with elastic input/output width, kernel size (centre crop) and group number.

    Args:
        max_in_channels: largest input width.
        max_out_channels: largest output width.
        max_kernel_size: largest kernel; smaller ones are centre crops.
        stride: fixed stride.
        bias: whether a bias is learnt.
        max_in_per_group: input channels per group the weight stores (defaults to ``max_in_channels``, i.e. a
            dense max filter; a grouped supernet passes the largest ``I/g`` its space allows).
    """

    weight_init = "convolution"  # how vipnas.models.pose.init_weights initialises it

    def __init__(
        self,
        max_in_channels: int,
        max_out_channels: int,
        max_kernel_size: int = 1,
        *,
        stride: int = 1,
        bias: bool = False,
        max_in_per_group: int | None = None,
    ) -> None:
        super().__init__()
        self.max_in_channels = max_in_channels
        self.max_out_channels = max_out_channels
        self.max_kernel_size = max_kernel_size
        self.stride = stride
        per_group = max_in_channels if max_in_per_group is None else min(max_in_per_group, max_in_channels)
        self.weight = nn.Parameter(torch.empty(max_out_channels, per_group, max_kernel_size, max_kernel_size))
        self.bias = nn.Parameter(torch.zeros(max_out_channels)) if bias else None
        nn.init.kaiming_uniform_(self.weight, a=5**0.5)
        self.in_channels = max_in_channels
        self.out_channels = max_out_channels
        self.kernel_size = max_kernel_size
        # the initial active slice is the full weight; owners call activate before use
        self.groups = max_in_channels // per_group

    def activate(self, in_channels: int, out_channels: int, kernel_size: int | None = None, groups: int = 1) -> None:
        """Choose the slice that ``forward`` runs."""
        owner = type(self).__name__
        kernel_size = self.max_kernel_size if kernel_size is None else kernel_size
        self._check_widths(in_channels, out_channels)
        _check_kernel(kernel_size, self.max_kernel_size, owner)
        _check_groups(in_channels, out_channels, groups, self.weight.shape[1], owner)
        self.in_channels, self.out_channels, self.kernel_size, self.groups = (
            in_channels,
            out_channels,
            kernel_size,
            groups,
        )

    def active_weight(self) -> torch.Tensor:
        weight = self.weight[: self.out_channels, : self.in_channels // self.groups]  # (O, I/g, Kmax, Kmax)
        return centre_crop(weight, self.kernel_size)

    def active_bias(self) -> torch.Tensor | None:
        return None if self.bias is None else self.bias[: self.out_channels]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input(x, self.in_channels)
        return F.conv2d(x, self.active_weight(), self.active_bias(), self.stride, self.kernel_size // 2, 1, self.groups)

    def active_state_dict(self) -> dict[str, torch.Tensor]:
        state = {"weight": self.active_weight().detach().clone()}
        if self.bias is not None:
            state["bias"] = self.active_bias().detach().clone()
        return state

    def to_static(self) -> nn.Conv2d:
        conv = nn.Conv2d(
            self.in_channels,
            self.out_channels,
            self.kernel_size,
            self.stride,
            self.kernel_size // 2,
            groups=self.groups,
            bias=self.bias is not None,
        )
        conv.load_state_dict(self.active_state_dict())
        return conv

    def extra_repr(self) -> str:
        return (
            f"max {self.max_in_channels}->{self.max_out_channels} k{self.max_kernel_size} stride {self.stride}; "
            f"active {self.in_channels}->{self.out_channels} k{self.kernel_size} groups {self.groups}"
        )


class ElasticConvTranspose2d(ElasticModule):
    """Stride-2 transposed convolution with elastic widths, kernel size (centre crop, {2, 4} from 4) and group
    number. The weight is stored as (I, O/g, K, K) like ``nn.ConvTranspose2d``; for ``g`` groups the first
    ``O/g`` output slots of every input channel are kept (the transpose of the convolution convention)."""

    weight_init = "convolution"  # how vipnas.models.pose.init_weights initialises it

    def __init__(
        self,
        max_in_channels: int,
        max_out_channels: int,
        max_kernel_size: int = 4,
        *,
        stride: int = 2,
        max_out_per_group: int | None = None,
    ) -> None:
        super().__init__()
        self.max_in_channels = max_in_channels
        self.max_out_channels = max_out_channels
        self.max_kernel_size = max_kernel_size
        self.stride = stride
        per_group = max_out_channels if max_out_per_group is None else min(max_out_per_group, max_out_channels)
        self.weight = nn.Parameter(torch.empty(max_in_channels, per_group, max_kernel_size, max_kernel_size))
        self.bias = None
        nn.init.kaiming_uniform_(self.weight, a=5**0.5)
        self.in_channels, self.out_channels, self.kernel_size = max_in_channels, max_out_channels, max_kernel_size
        self.groups = max_out_channels // per_group

    def activate(self, in_channels: int, out_channels: int, kernel_size: int | None = None, groups: int = 1) -> None:
        owner = type(self).__name__
        kernel_size = self.max_kernel_size if kernel_size is None else kernel_size
        self._check_widths(in_channels, out_channels)
        _check_kernel(kernel_size, self.max_kernel_size, owner)
        deconv_padding(kernel_size)
        # the transposed weight stores output slots per group, so the capacity check is on O/g
        _check_groups(out_channels, in_channels, groups, self.weight.shape[1], owner)
        self.in_channels, self.out_channels, self.kernel_size, self.groups = (
            in_channels,
            out_channels,
            kernel_size,
            groups,
        )

    def active_weight(self) -> torch.Tensor:
        weight = self.weight[: self.in_channels, : self.out_channels // self.groups]  # (I, O/g, Kmax, Kmax)
        return centre_crop(weight, self.kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input(x, self.in_channels)
        padding, output_padding = deconv_padding(self.kernel_size)
        return F.conv_transpose2d(x, self.active_weight(), None, self.stride, padding, output_padding, self.groups)

    def active_state_dict(self) -> dict[str, torch.Tensor]:
        return {"weight": self.active_weight().detach().clone()}

    def to_static(self) -> nn.ConvTranspose2d:
        padding, output_padding = deconv_padding(self.kernel_size)
        deconv = nn.ConvTranspose2d(
            self.in_channels,
            self.out_channels,
            self.kernel_size,
            self.stride,
            padding,
            output_padding,
            groups=self.groups,
            bias=False,
        )
        deconv.load_state_dict(self.active_state_dict())
        return deconv

    def extra_repr(self) -> str:
        return (
            f"max {self.max_in_channels}->{self.max_out_channels} k{self.max_kernel_size}; "
            f"active {self.in_channels}->{self.out_channels} k{self.kernel_size} groups {self.groups}"
        )


class ElasticBatchNorm2d(ElasticModule):
    """BatchNorm over the first ``num_features`` active channels of a max-size BatchNorm."""

    weight_init = "norm"  # how vipnas.models.pose.init_weights initialises it

    def __init__(self, max_features: int, *, eps: float = 1e-5, momentum: float | None = 0.1) -> None:
        super().__init__()
        self.max_features = max_features
        self.eps = eps
        self.momentum = momentum
        self.weight = nn.Parameter(torch.ones(max_features))
        self.bias = nn.Parameter(torch.zeros(max_features))
        self.register_buffer("running_mean", torch.zeros(max_features))
        self.register_buffer("running_var", torch.ones(max_features))
        self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))
        self.num_features = max_features

    def activate(self, num_features: int) -> None:
        if not 0 < num_features <= self.max_features:
            raise ValueError(f"ElasticBatchNorm2d: {num_features} channels exceed the max {self.max_features}")
        self.num_features = num_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input(x, self.num_features)
        c = self.num_features
        factor = 0.0
        if self.training:
            self.num_batches_tracked.add_(1)
            # momentum None = cumulative average, as nn.BatchNorm2d (used for exact BN recalibration)
            factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        return F.batch_norm(
            x,
            self.running_mean[:c],
            self.running_var[:c],
            self.weight[:c],
            self.bias[:c],
            self.training,
            factor,
            self.eps,
        )

    def active_state_dict(self) -> dict[str, torch.Tensor]:
        c = self.num_features
        return {
            "weight": self.weight[:c].detach().clone(),
            "bias": self.bias[:c].detach().clone(),
            "running_mean": self.running_mean[:c].clone(),
            "running_var": self.running_var[:c].clone(),
            "num_batches_tracked": self.num_batches_tracked.clone(),
        }

    def to_static(self) -> nn.BatchNorm2d:
        bn = nn.BatchNorm2d(self.num_features, eps=self.eps, momentum=self.momentum)
        bn.load_state_dict(self.active_state_dict())
        return bn

    def extra_repr(self) -> str:
        return f"max {self.max_features}; active {self.num_features}"


class ElasticLayerNorm(ElasticModule):
    """LayerNorm over (C, 1, 1) with elastic C, as used inside the GC block's transform."""

    weight_init = "norm"  # how vipnas.models.pose.init_weights initialises it

    def __init__(self, max_features: int, *, eps: float = 1e-5) -> None:
        super().__init__()
        self.max_features = max_features
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(max_features, 1, 1))
        self.bias = nn.Parameter(torch.zeros(max_features, 1, 1))
        self.num_features = max_features

    def activate(self, num_features: int) -> None:
        if not 0 < num_features <= self.max_features:
            raise ValueError(f"ElasticLayerNorm: {num_features} channels exceed the max {self.max_features}")
        self.num_features = num_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input(x, self.num_features)
        c = self.num_features
        return F.layer_norm(x, [c, 1, 1], self.weight[:c], self.bias[:c], self.eps)

    def active_state_dict(self) -> dict[str, torch.Tensor]:
        c = self.num_features
        return {"weight": self.weight[:c].detach().clone(), "bias": self.bias[:c].detach().clone()}

    def to_static(self) -> nn.LayerNorm:
        norm = nn.LayerNorm([self.num_features, 1, 1], eps=self.eps)
        norm.load_state_dict(self.active_state_dict())
        return norm
