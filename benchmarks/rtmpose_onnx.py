"""Export MMPose's RTMPose-t and RTMPose-s (COCO 17 keypoints, 256x192 input) to ONNX, as a speed reference.

    /tmp/mmvenv/bin/python benchmarks/rtmpose_onnx.py --out /tmp/rtmpose_onnx
    /tmp/mmvenv/bin/python benchmarks/rtmpose_onnx.py --input-size 128 96 --out /tmp/rtmpose_onnx_128x96

The networks are built from MMPose's own registered modules, ``mmpose.models.backbones.CSPNeXt`` and
``mmpose.models.heads.RTMCCHead``, with the arguments of ``rtmpose-{t,s}_8xb256-420e_coco-256x192.py``
(``configs/body_2d_keypoint/rtmpose/coco/`` in MMPose 1.3.2).  Two departures from those configs: the configs'
``SyncBN`` becomes plain ``BN`` (same defaults, one process), and their ``Pretrained`` init is dropped.
**The weights are random** (PyTorch's default initialisation under a fixed seed): these files are for latency
measurements only, never for accuracy.

Backbone + head are wrapped in one module whose ``forward(image)`` returns the head's two SimCC vectors,
``simcc_x`` (N, 17, 384) and ``simcc_y`` (N, 17, 512); it is exported in eval mode with the TorchScript exporter
(``dynamo=False``, opset 17, input ``image``, dynamic batch axis) as ``rtmpose_t.onnx`` and ``rtmpose_s.onnx``
in ``--out``.  Each file is checked with ``onnx.checker`` and, when ONNX Runtime is installed, against the torch
outputs at batch 1 and 2 (max abs difference printed).  The script also prints parameter counts and the
multiply-accumulates (MACs) of every executed ``nn.Conv2d`` (``output.numel() * in_channels/groups * kh*kw``)
and ``nn.Linear`` (``output.numel() * in_features``) for one image, measured with forward hooks, beside the
figures that MMPose publishes (its "GFLOPs", from mmengine's counter, are MACs; that counter also counts the
GAU's attention matmuls, normalisation and activations, which are not counted here).

It needs the MMPose virtualenv described in docs/mmpose_equivalence.md (torch, mmengine, mmcv-lite, mmpose with
``--no-deps``), plus ``onnx`` (needed by ``torch.onnx.export``) and optionally ``onnxruntime``::

    /tmp/mmvenv/bin/pip install onnx onnxruntime

As in ``mmpose_equivalence.py``, software that ``mmpose.models`` imports but these modules never use
(``xtcocotools``, ``mmdet``, compiled ``mmcv.ops``) is replaced by empty stubs when missing.  Exits 2 when
MMPose cannot be imported.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import torch
from mmpose_equivalence import import_from_mmpose
from torch import nn

SEED = 0
INPUT_HW = (256, 192)  # (height, width)
NUM_KEYPOINTS = 17
# name: (deepen_factor, widen_factor, head in_channels, published params (M), published GFLOPs)
VARIANTS = {
    "rtmpose_t": (0.167, 0.375, 384, 3.34, 0.36),
    "rtmpose_s": (0.33, 0.5, 512, 5.47, 0.68),
}


def import_mmpose():
    """MMPose's ``CSPNeXt`` and ``RTMCCHead`` classes, the stubbed module names and the versions."""
    found, used, versions = import_from_mmpose(
        {"CSPNeXt": "mmpose.models.backbones", "RTMCCHead": "mmpose.models.heads"}
    )
    return found.CSPNeXt, found.RTMCCHead, used, versions


class RTMPose(nn.Module):
    """``backbone`` + ``head`` (MMPose's attribute names); ``forward(image)`` returns ``(simcc_x, simcc_y)``."""

    def __init__(self, backbone: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        simcc_x, simcc_y = self.head(self.backbone(image))
        return simcc_x, simcc_y


def build(backbone_cls, head_cls, deepen: float, widen: float, in_channels: int) -> RTMPose:
    """One RTMPose network (``backbone_cls``: MMPose's ``CSPNeXt``, ``head_cls``: its ``RTMCCHead``) with random
    weights (seed ``SEED``), in eval mode."""
    torch.manual_seed(SEED)
    height, width = INPUT_HW
    backbone = backbone_cls(
        arch="P5",
        expand_ratio=0.5,
        deepen_factor=deepen,
        widen_factor=widen,
        out_indices=(4,),
        channel_attention=True,
        norm_cfg=dict(type="BN"),
        act_cfg=dict(type="SiLU"),
        init_cfg=None,
    )
    head = head_cls(
        in_channels=in_channels,
        out_channels=NUM_KEYPOINTS,
        input_size=(width, height),
        in_featuremap_size=(width // 32, height // 32),
        simcc_split_ratio=2.0,
        final_layer_kernel_size=7,
        gau_cfg=dict(
            hidden_dims=256,
            s=128,
            expansion_factor=2,
            dropout_rate=0.0,
            drop_path=0.0,
            act_fn="SiLU",
            use_rel_bias=False,
            pos_enc=False,
        ),
    )
    return RTMPose(backbone, head).eval()


def count_macs(model: nn.Module, image: torch.Tensor) -> int:
    """MACs of every executed ``nn.Conv2d`` and ``nn.Linear`` for ``image`` (forward hooks)."""
    total = 0

    def conv_hook(module: nn.Conv2d, inputs, output: torch.Tensor) -> None:
        nonlocal total
        kh, kw = module.kernel_size
        total += output.numel() * (module.in_channels // module.groups) * kh * kw

    def linear_hook(module: nn.Linear, inputs, output: torch.Tensor) -> None:
        nonlocal total
        total += output.numel() * module.in_features

    handles = []
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            handles.append(module.register_forward_hook(conv_hook))
        elif isinstance(module, nn.Linear):
            handles.append(module.register_forward_hook(linear_hook))
    try:
        with torch.no_grad():
            model(image)
    finally:
        for handle in handles:
            handle.remove()
    return total


def export(model: nn.Module, path: Path) -> None:
    height, width = INPUT_HW
    dummy = torch.randn(1, 3, height, width)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (dummy,),
            str(path),
            dynamo=False,
            opset_version=17,
            input_names=["image"],
            output_names=["simcc_x", "simcc_y"],
            dynamic_axes={"image": {0: "batch"}, "simcc_x": {0: "batch"}, "simcc_y": {0: "batch"}},
        )


def check_onnx(model: nn.Module, path: Path) -> list[str]:
    """``onnx.checker`` on the file, then ONNX Runtime vs torch at batch 1 and 2; one line per check."""
    import onnx

    onnx.checker.check_model(onnx.load(str(path)))
    lines = ["onnx.checker: ok"]
    try:
        import onnxruntime as ort
    except ImportError:
        return [*lines, "onnxruntime not installed: outputs not compared"]
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    height, width = INPUT_HW
    generator = torch.Generator().manual_seed(SEED + 1)
    for batch in (1, 2):
        image = torch.randn(batch, 3, height, width, generator=generator)
        with torch.no_grad():
            expected = [t.numpy() for t in model(image)]
        got = session.run(["simcc_x", "simcc_y"], {"image": image.numpy()})
        parts = []
        for name, e, g in zip(("simcc_x", "simcc_y"), expected, got, strict=True):
            if e.shape != g.shape:
                raise RuntimeError(f"{path.name}: {name} shape {g.shape} from ONNX Runtime, {e.shape} from torch")
            diff = float(abs(e - g).max())
            parts.append(f"{name} {tuple(g.shape)} max|diff| {diff:.3g} (max|torch| {float(abs(e).max()):.3g})")
        lines.append(f"onnxruntime batch {batch}: " + "; ".join(parts))
    return lines


def main(argv: list[str] | None = None) -> int:
    global INPUT_HW  # build/export/check read it: the one input size of this run
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/rtmpose_onnx"), help="folder for the .onnx files")
    parser.add_argument(
        "--input-size", type=int, nargs=2, default=list(INPUT_HW), metavar=("HEIGHT", "WIDTH"),
        help="network input (the configs' 256 192; the SimCC head's sizes follow it, so others change its params)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    INPUT_HW = (args.input_size[0], args.input_size[1])

    try:
        CSPNeXt, RTMCCHead, stubs, versions = import_mmpose()
    except Exception as exc:  # ImportError, or a version assertion inside MMPose's own imports
        print(f"error: cannot import MMPose ({type(exc).__name__}: {exc})", file=sys.stderr)
        return 2

    torch.set_num_threads(1)
    # MMPose's CSP layers call the deprecated torch.cuda.amp.autocast on every forward
    warnings.filterwarnings("ignore", category=FutureWarning, module="mmpose")
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"torch {torch.__version__}, " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    print(f"stubbed modules: {', '.join(stubs) if stubs else 'none'}")
    print(f"random weights (seed {SEED}): a speed reference only, not an accuracy one")
    height, width = INPUT_HW
    summary = []
    for name, (deepen, widen, in_channels, pub_params, pub_gflops) in VARIANTS.items():
        model = build(CSPNeXt, RTMCCHead, deepen, widen, in_channels)
        params = sum(p.numel() for p in model.parameters())
        macs = count_macs(model, torch.zeros(1, 3, height, width))
        path = args.out / f"{name}.onnx"
        export(model, path)
        print(f"\n{name}: wrote {path} ({path.stat().st_size / 2**20:.2f} MiB)")
        for line in check_onnx(model, path):
            print(f"  {line}")
        summary.append((name, params, macs, pub_params, pub_gflops))

    print(f"\nper image at {height}x{width}; published: MMPose's RTMPose-t/s model zoo figures")
    print(f"{'network':<10} {'params':>10} {'published':>10} {'Conv+Linear MACs':>17} {'published GFLOPs':>17}")
    for name, params, macs, pub_params, pub_gflops in summary:
        print(f"{name:<10} {params:>10,} {pub_params:>9.2f}M {macs:>17,} {pub_gflops:>17.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
