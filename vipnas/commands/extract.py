"""``vipnas extract``: a searched sub-network as a standalone static checkpoint (and ONNX graph)."""

from __future__ import annotations

import argparse

HELP = "extract an arch from a supernet checkpoint as a standalone network (BN recalibrated; optional ONNX)"
EXAMPLES = [
    "vipnas extract runs/supernet/last.pth --arch runs/search/best_arch.json --out searched.pth",
    "vipnas extract runs/supernet/last.pth --arch best_arch.json --out searched.pth --onnx searched.onnx",
    "vipnas extract runs/hrnet_supernet/last.pth --arch runs/hrnet_search/arch.json --out hrnet_searched.pth",
    "vipnas train synthpose_mbv3_finetune --load-from searched.pth   # fine-tune it",
]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="supernet checkpoint (from vipnas train)")
    parser.add_argument("--arch", required=True, help="arch JSON (e.g. best_arch.json written by vipnas search)")
    parser.add_argument("--out", required=True, help="static network checkpoint to write")
    parser.add_argument("--onnx", default=None, help="also write an ONNX graph here (checked with ONNX Runtime)")
    parser.add_argument("--no-recalibrate", action="store_true", help="keep the supernet's shared BN statistics")
    parser.add_argument("--calibration-images", type=int, default=None, help="training crops for BN recalibration")


def run(args: argparse.Namespace) -> int:
    from vipnas.commands import writable_file
    from vipnas.models.checkpoint import save_model
    from vipnas.models.complexity import complexity_of
    from vipnas.nas.extract import extract_from_checkpoint
    from vipnas.space.archs import load_any_arch

    writable_file(args.out)
    if args.onnx:
        writable_file(args.onnx, "--onnx")
    arch = load_any_arch(args.arch)  # any family: an HRNet arch for an HRNet supernet
    subnet, provenance = extract_from_checkpoint(
        args.checkpoint, arch, recalibrate=not args.no_recalibrate, calibration_images=args.calibration_images
    )
    path = save_model(subnet, args.out, provenance=provenance)
    cost = complexity_of(arch, num_joints=subnet.metadata.num_joints, input_size=subnet.metadata.input_size)
    bn = "recalibrated" if provenance["bn_recalibrated"] else "NOT recalibrated (supernet statistics)"
    print(f"wrote {path}: {cost}, BatchNorm {bn}")
    if args.onnx:
        from vipnas.models.export import export_onnx

        difference = export_onnx(subnet, args.onnx)
        print(f"wrote {args.onnx}: ONNX Runtime matches PyTorch (max |difference| {difference:.2e})")
    return 0
