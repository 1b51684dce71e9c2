"""``vipnas convert-mmpose``: turn an MMPose checkpoint of S-ViPNAS / SimpleBaseline / HRNet-W32 into a vipnas
checkpoint."""

from __future__ import annotations

import argparse

HELP = "convert an MMPose (0.x or 1.x) checkpoint of s_vipnas_res50 / s_vipnas_mbv3 / sbl_res50 / hrnet_w32"
EXAMPLES = [
    "vipnas convert-mmpose td-hm_vipnas-res50_8xb64-210e_coco-256x192.pth --model s_vipnas_res50 --out res50.pth",
    "vipnas convert-mmpose vipnas_mbv3_coco_256x192.pth --model s_vipnas_mbv3 --out mbv3.pth",
    "vipnas convert-mmpose td-hm_hrnet-w32_8xb64-210e_coco-256x192.pth --model hrnet_w32 --out hrnet.pth",
]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="MMPose checkpoint (.pth)")
    parser.add_argument("--model", required=True, choices=["s_vipnas_res50", "s_vipnas_mbv3", "sbl_res50", "hrnet_w32"])
    parser.add_argument("--out", required=True, help="vipnas checkpoint to write")


def run(args: argparse.Namespace) -> int:
    from vipnas.commands import writable_file
    from vipnas.models.checkpoint import save_model
    from vipnas.models.mmpose import convert_mmpose_checkpoint

    writable_file(args.out)
    model = convert_mmpose_checkpoint(args.checkpoint, args.model)
    path = save_model(model, args.out, source={"converted_from": str(args.checkpoint), "toolbox": "mmpose"})
    params = sum(p.numel() for p in model.parameters())
    print(f"wrote {path}: {args.model}, {params:,} parameters; load it with vipnas.load_model({str(path)!r})")
    return 0
