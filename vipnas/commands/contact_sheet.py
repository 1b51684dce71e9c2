"""``vipnas contact-sheet``: draw a grid of images (or network-input crops) with their skeletons to a PNG."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "draw a grid of dataset images, or of network-input crops, with their annotated skeletons to a PNG"
EXAMPLES = [
    "vipnas contact-sheet data/synthpose --out sheet.png",
    "vipnas contact-sheet data/synthpose --split train --videos --in-order --count 8 --out video_sheet.png",
    "vipnas contact-sheet ../shared/real_samples/coco/test_coco.json --out coco.png --crops --augment",
    "vipnas contact-sheet ../shared/real_samples/posetrack18/annotations/val --out posetrack.png",
]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", help="SynthPose root, COCO-style or MPII file, or PoseTrack18 per-video folder")
    parser.add_argument("--out", required=True, help="PNG file to write")
    parser.add_argument("--image-root", default=None, help="folder image paths are relative to (default: guessed)")
    parser.add_argument(
        "--dataset", default=None, help="joint convention: coco, posetrack18, mpii, crowdpose (guessed)"
    )
    parser.add_argument("--split", default="val", choices=("train", "val"), help="SynthPose split (default val)")
    parser.add_argument("--videos", action="store_true", help="SynthPose: show video frames instead of images")
    parser.add_argument("--count", type=int, default=16, help="tiles (default 16)")
    parser.add_argument("--columns", type=int, default=4, help="tiles per row (default 4)")
    parser.add_argument("--tile", type=int, default=256, help="tile side in pixels for whole images (default 256)")
    parser.add_argument("--seed", type=int, default=0, help="which samples to show")
    parser.add_argument("--in-order", action="store_true", help="show the first images in file order (video frames)")
    parser.add_argument("--crops", action="store_true", help="show top-down network-input crops instead of images")
    parser.add_argument("--augment", action="store_true", help="with --crops: apply the training augmentation")
    parser.add_argument("--input-size", type=int, nargs=2, default=(192, 256), metavar=("W", "H"), help="crop size")


def _crop_tiles(annotations, args: argparse.Namespace) -> list:
    import numpy as np

    from vipnas.data.augment import AugmentConfig
    from vipnas.data.dataset import TopDownDataset
    from vipnas.data.draw import draw_pose

    dataset = TopDownDataset(
        annotations,
        input_size=tuple(args.input_size),
        augment=AugmentConfig() if args.augment else None,
        seed=args.seed,
    )
    order = np.random.default_rng(args.seed).permutation(len(dataset))[: args.count]
    tiles = []
    for index in order:
        sample = dataset[int(index)]
        pixels = sample.image.numpy().transpose(1, 2, 0) * dataset.std + dataset.mean
        crop = np.ascontiguousarray(np.clip(pixels, 0, 255).astype(np.uint8))
        tiles.append(draw_pose(crop, sample.keypoints, sample.visible, annotations.info, radius=2, thickness=1))
    return tiles


def run(args: argparse.Namespace) -> int:
    import cv2

    from vipnas.commands import writable_file
    from vipnas.data.draw import contact_sheet, tile_grid
    from vipnas.data.files import write_bytes_atomic
    from vipnas.data.load import load_annotations

    writable_file(args.out)
    if args.count < 1 or args.columns < 1 or args.tile < 16:
        raise ValueError(
            f"need --count >= 1, --columns >= 1 and --tile >= 16, got {args.count}, {args.columns}, {args.tile}"
        )
    annotations = load_annotations(
        args.source, args.image_root, dataset=args.dataset, split=args.split, videos=args.videos
    )
    if args.crops:
        tiles = _crop_tiles(annotations, args)
        if not tiles:
            raise ValueError(f"{args.source}: no annotated person to draw")
        sheet = tile_grid(tiles, min(args.columns, len(tiles)))
    else:
        seed = None if args.in_order else args.seed
        sheet = contact_sheet(annotations, count=args.count, columns=args.columns, tile_size=args.tile, seed=seed)
    ok, png = cv2.imencode(".png", cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError(f"PNG encoding of a {sheet.shape} sheet failed")
    write_bytes_atomic(Path(args.out), png.tobytes())
    print(
        f"wrote {args.out} ({sheet.shape[1]}×{sheet.shape[0]} px, {annotations.info.name}, {len(annotations)} persons)"
    )
    return 0
