"""Check our static HRNet-W32 (``build_hrnet(HRNET_W32_ARCH)``) against MMPose's real modules, in both directions.

Run with the python of the side virtualenv that has MMPose (see ``benchmarks/mmpose_equivalence.py`` for its setup)::

    /tmp/mmvenv/bin/python benchmarks/hrnet_equivalence.py

For several seeds it

1. builds MMPose 1.x's ``HRNet(extra=...)`` + ``HeatmapHead(in_channels=32, out_channels=17,
   deconv_out_channels=None)`` with the settings of ``td-hm_hrnet-w32_8xb64-210e_coco-256x192.py``, randomises every
   weight and BN statistic (``randomize_`` of ``mmpose_equivalence.py``), renames its state dict with
   ``hrnet_from_mmpose_keys``, loads it strictly into ours and compares heatmaps on random (2, 3, 256, 192) inputs;
2. randomises *our* network, renames with ``hrnet_to_mmpose_keys``, loads it into MMPose with ``strict=True`` and
   compares again; with a negative control (1% on one BN variance must be noticed);
3. compares key sets, shapes, parameter counts and hook-counted conv MACs at (1, 3, 256, 192) (MMPose's hooks,
   torch's ``FlopCounterMode``, our ``measure_complexity`` and the numbers ``tests/models/test_hrnet.py`` asserts).

It prints a table and exits 1 on any mismatch (heatmaps: relative max-abs difference above ``--rtol``), 2 when
MMPose cannot be imported.
"""

from __future__ import annotations

import argparse
import ast
import os
import platform
import sys
import warnings
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from mmpose_equivalence import (  # noqa: E402  (benchmarks/ is not a package)
    MMPoseTopDown,
    count_complexity,
    flop_counter_macs,
    import_from_mmpose,
    randomize_,
    rel_diff,
)

from vipnas.models.complexity import measure_complexity  # noqa: E402
from vipnas.models.hrnet_mmpose import hrnet_from_mmpose_keys, hrnet_to_mmpose_keys  # noqa: E402
from vipnas.nn.hrnet import build_hrnet  # noqa: E402
from vipnas.space.hrnet import HRNET_W32_ARCH  # noqa: E402

INPUT_SIZE = (256, 192)
# backbone.extra of td-hm_hrnet-w32_8xb64-210e_coco-256x192.py (no 'multiscale_output': MMPose's default False)
EXTRA = dict(
    stage1=dict(num_modules=1, num_branches=1, block="BOTTLENECK", num_blocks=(4,), num_channels=(64,)),
    stage2=dict(num_modules=1, num_branches=2, block="BASIC", num_blocks=(4, 4), num_channels=(32, 64)),
    stage3=dict(num_modules=4, num_branches=3, block="BASIC", num_blocks=(4, 4, 4), num_channels=(32, 64, 128)),
    stage4=dict(num_modules=3, num_branches=4, block="BASIC", num_blocks=(4, 4, 4, 4), num_channels=(32, 64, 128, 256)),
)


def build_mmpose(ns) -> MMPoseTopDown:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return MMPoseTopDown(
            ns.HRNet(extra=EXTRA, in_channels=3),
            ns.HeatmapHead(in_channels=32, out_channels=17, deconv_out_channels=None),
        )


def asserted_counts() -> tuple[int, int] | None:
    """``(MMPOSE_HRNET_W32_PARAMS, MMPOSE_HRNET_W32_MACS)`` as written in tests/models/test_hrnet.py (read with
    ``ast``: no pytest needed)."""
    tree = ast.parse((REPO / "tests" / "models" / "test_hrnet.py").read_text())
    values = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            values[node.targets[0].id] = node.value
    if "MMPOSE_HRNET_W32_PARAMS" not in values or "MMPOSE_HRNET_W32_MACS" not in values:
        return None
    return ast.literal_eval(values["MMPOSE_HRNET_W32_PARAMS"]), ast.literal_eval(values["MMPOSE_HRNET_W32_MACS"])


def row(check: str, value: str, ok: bool) -> dict:
    return dict(check=check, value=value, ok=ok)


def check_structure(ns) -> list[dict]:
    mm, ours = build_mmpose(ns), build_hrnet(HRNET_W32_ARCH)
    mm_sd, our_sd = mm.state_dict(), hrnet_to_mmpose_keys(ours.state_dict())
    missing, extra = sorted(set(mm_sd) - set(our_sd)), sorted(set(our_sd) - set(mm_sd))
    shapes = sorted(k for k in set(mm_sd) & set(our_sd) if mm_sd[k].shape != our_sd[k].shape)
    rows = [
        row(
            "state-dict keys, shapes, order",
            f"{len(mm_sd)} keys; missing {missing[:2]} extra {extra[:2]} shape {shapes[:2]}"
            if missing or extra or shapes
            else f"{len(mm_sd)} keys identical, shapes equal, same order: {list(mm_sd) == list(our_sd)}",
            not (missing or extra or shapes) and list(mm_sd) == list(our_sd),
        )
    ]
    back = hrnet_from_mmpose_keys(mm_sd)
    rows.append(
        row(
            "key mapping round trip",
            f"MMPose -> ours -> MMPose identical: {hrnet_to_mmpose_keys(back).keys() == mm_sd.keys()}",
            list(hrnet_to_mmpose_keys(back)) == list(mm_sd) and list(back) == list(ours.state_dict()),
        )
    )
    measured = count_complexity(ns, mm)
    torch_macs, _ = flop_counter_macs(mm)
    hooks = measure_complexity(ours, INPUT_SIZE)
    rows.append(
        row(
            "params MMPose / ours",
            f"{measured['params']:,} / {hooks.params:,}",
            measured["params"] == hooks.params,
        )
    )
    rows.append(
        row(
            "conv MACs MMPose hooks / torch FlopCounter / ours",
            f"{measured['macs']:,} / {torch_macs:,} / {hooks.macs:,}"
            + (f"; {'; '.join(measured['problems'][:3])}" if measured["problems"] else ""),
            measured["macs"] == torch_macs == hooks.macs and not measured["problems"],
        )
    )
    expected = asserted_counts()
    rows.append(
        row(
            "tests' MMPOSE_HRNET_W32_* vs measured",
            f"{expected[0]:,} params, {expected[1]:,} MACs" if expected else "constants not found",
            expected == (measured["params"], measured["macs"]),
        )
    )
    return rows


def check_seed(ns, seed: int, batch: int, rtol: float) -> list[dict]:
    gen = torch.Generator().manual_seed(20_000 + seed)
    calib = torch.randn(4, 3, *INPUT_SIZE, generator=gen)
    x = torch.randn(batch, 3, *INPUT_SIZE, generator=gen)
    rows = []

    # MMPose -> ours
    mm = randomize_(build_mmpose(ns), seed, calib)
    with torch.no_grad():
        ref = mm(x)
    ours = build_hrnet(HRNET_W32_ARCH)
    check = f"seed {seed}: MMPose -> ours (strict)"
    try:
        ours.load_state_dict(hrnet_from_mmpose_keys(mm.state_dict()), strict=True)
    except (RuntimeError, ValueError) as error:
        rows.append(row(check, "load failed: " + " ".join(str(error).split())[:300], False))
    else:
        ours.eval()
        with torch.no_grad():
            out = ours(x)
        d, r = rel_diff(out, ref)
        shape_ok = out.shape == ref.shape == (batch, 17, INPUT_SIZE[0] // 4, INPUT_SIZE[1] // 4)
        rows.append(row(check, f"max|d|={d:.2e} rel={r:.2e} (|ref|max={ref.abs().max():.3g})", shape_ok and r <= rtol))
        if seed == 0:
            # negative control: the comparison must notice a 1% change of a single BN variance mid-network
            variances = [k for k in ours.state_dict() if k.endswith("running_var")]
            key = variances[len(variances) // 2]
            with torch.no_grad():
                ours.state_dict()[key].mul_(1.01)
                d, r = rel_diff(ours(x), ref)
            rows.append(row("negative control (1% on one BN var)", f"rel={r:.2e} on {key}", r > rtol))

    # ours -> MMPose
    ours = randomize_(build_hrnet(HRNET_W32_ARCH), 100 + seed, calib)
    with torch.no_grad():
        out = ours(x)
    mm = build_mmpose(ns)
    check = f"seed {seed}: ours -> MMPose (strict)"
    try:
        mm.load_state_dict(hrnet_to_mmpose_keys(ours.state_dict()), strict=True)
    except (RuntimeError, ValueError) as error:
        rows.append(row(check, "load failed: " + " ".join(str(error).split())[:300], False))
        return rows
    mm.eval()
    with torch.no_grad():
        ref = mm(x)
    d, r = rel_diff(out, ref)
    rows.append(row(check, f"max|d|={d:.2e} rel={r:.2e} (|ref|max={ref.abs().max():.3g})", r <= rtol))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--rtol", type=float, default=1e-5, help="max |ours - MMPose| / max |MMPose| allowed")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (0: torch's default)")
    args = parser.parse_args(argv)
    try:
        ns, stubs, versions = import_from_mmpose(
            {"HRNet": "mmpose.models.backbones", "HeatmapHead": "mmpose.models.heads", "ContextBlock": "mmcv.cnn"}
        )
    except ImportError as error:
        print(f"MMPose is not importable: {error}\nRun this with the side virtualenv's python.", file=sys.stderr)
        return 2
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    print("# HRNet-W32 MMPose equivalence check")
    print(f"machine : {platform.platform()} | {os.cpu_count()} CPUs | torch threads {torch.get_num_threads()}")
    print(f"python  : {platform.python_version()} | torch {torch.__version__}")
    print(f"mmpose  : {versions['mmpose']} | mmcv {versions['mmcv']} | mmengine {versions['mmengine']}")
    print(f"stubbed : {', '.join(stubs) or 'none'} (imported by unrelated MMPose modules only)")
    print(f"setup   : seeds {args.seeds}, input {args.batch}x3x{INPUT_SIZE[0]}x{INPUT_SIZE[1]}, rtol {args.rtol:g}")
    print(f"MACs    : 1x3x{INPUT_SIZE[0]}x{INPUT_SIZE[1]}, every executed nn.Conv2d (output.numel() * C_in/g * k*k)\n")

    rows = check_structure(ns)
    for seed in args.seeds:
        rows += check_seed(ns, seed, args.batch, args.rtol)
    width = max(len(r["check"]) for r in rows)
    print(f"| {'check':<{width}} | ok   | value")
    print(f"|{'-' * (width + 2)}|------|{'-' * 60}")
    for r in rows:
        print(f"| {r['check']:<{width}} | {'PASS' if r['ok'] else 'FAIL'} | {r['value']}")
    failed = [r for r in rows if not r["ok"]]
    print(f"\n{len(rows) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
