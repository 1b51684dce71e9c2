"""Issue 15's accuracy target: a network searched in the CPU-efficient space, at or under RTMPose-t's OpenVINO
latency, whose SynthPose AP (same recipe, several seeds) is at least S-ViPNAS-MBv3's.

    python benchmarks/cpu_efficient_target.py --rtmpose /tmp/rtmpose_onnx \\
        --network "S-ViPNAS-MBv3=runs/cpu/train-s_vipnas_mbv3-seed*/checkpoints/last.pth" \\
        --network "cpu_efficient searched=runs/cpu/train-cpu_efficient_arch3-seed*/checkpoints/last.pth"

Each ``--network NAME=GLOB`` is one network trained with several seeds (the glob's checkpoints, one per seed, all
the same arch). Two measurements, both printed and written to ``--json``:

1. **AP** on held-out SynthPose: ``--images`` easy images generated with seed 11 (training data is generator seed
   0; the search saw no data at all), the validation half scored with pycocotools (flip test, the checkpoint's
   own input size), for torch fp32 and for each ``--precisions`` OpenVINO deployment built by ``vipnas export``'s
   code (int8 calibrated on the seed-11 training half). Mean ± sample std over the seeds.
2. **Latency** at ``--latency-size`` (default 256×192, RTMPose's input; the networks are fully convolutional), one
   thread, batch 1: the first checkpoint of every network and RTMPose-t/-s (ONNX from ``benchmarks/rtmpose_onnx.py``,
   random weights: speed only) converted to OpenVINO at each precision, all timed in one interleaved run
   (``--rounds`` × ``--runs`` calls, shuffled order per round); the median of the round medians with their
   min–max.

The verdict line compares, per precision, the latency with RTMPose-t's of the same run and the mean AP with the
reference network's (``--reference``, default the first ``--network``), beside the seeds' spreads. ``--plot PNG``
draws AP against latency per precision (``--replot JSON --plot PNG`` redraws an earlier run's ``--json``).
"""

from __future__ import annotations

import argparse
import glob
import json
import statistics
import sys
import tempfile
from pathlib import Path

from _machine import footer, header
from _timing import interleaved_rounds


def spread(values: list[float]) -> tuple[float, float]:
    return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def plot(report: dict, path: Path) -> None:
    """AP (deployed, mean ± std over seeds) against OpenVINO latency, one panel per precision, RTMPose-t/-s as
    vertical lines (their weights are random: latency only)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    precisions = sorted({row["precision"] for row in report["latency_ms"]})
    latency = {(row["network"], row["precision"]): row["median_ms"] for row in report["latency_ms"]}
    figure, axes = plt.subplots(1, len(precisions), figsize=(5.2 * len(precisions), 4.2), squeeze=False)
    for axis, precision in zip(axes[0], precisions, strict=True):
        for name, entry in report["networks"].items():
            mean, std = spread(entry["AP"][f"openvino {precision}"])
            label = f"{name} (n={len(entry['checkpoints'])})"
            axis.errorbar(latency[name, precision], mean, yerr=std, fmt="o", capsize=4, label=label)
        for stem, style in (("rtmpose_t", "--"), ("rtmpose_s", ":")):
            if (stem, precision) in latency:
                axis.axvline(latency[stem, precision], color="grey", linestyle=style, label=f"{stem} latency")
        axis.set_xscale("log")
        axis.set_xlabel(f"OpenVINO {precision} ms at {report['latency_size'][0]}x{report['latency_size'][1]}, "
                        f"{report['threads']} thread(s)")  # fmt: skip
        axis.set_ylabel(f"AP, {report['images']} held-out SynthPose images")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--network", action="append", default=[], help="NAME=GLOB of its seeds' checkpoints")
    parser.add_argument("--reference", default=None, help="the network to beat (default: the first)")
    parser.add_argument("--rtmpose", default=None, help="folder with rtmpose_t.onnx (and rtmpose_s.onnx)")
    parser.add_argument("--precisions", default="bf16,int8", help="OpenVINO precisions")
    parser.add_argument("--images", type=int, default=800, help="SynthPose images (half of them scored)")
    parser.add_argument("--calibration", type=int, default=200, help="int8 calibration crops")
    parser.add_argument("--latency-size", type=int, nargs=2, default=[256, 192])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--json", default=None)
    parser.add_argument("--plot", default=None, help="draw AP against latency to this PNG")
    parser.add_argument("--replot", default=None, help="only draw --plot from this --json of an earlier run")
    args = parser.parse_args()
    if args.replot:
        if not args.plot:
            raise SystemExit("--replot needs --plot PNG")
        if not Path(args.replot).is_file():
            raise SystemExit(f"--replot {args.replot}: no such file (expected a --json of an earlier run)")
        plot(json.loads(Path(args.replot).read_text()), Path(args.plot))
        print(f"drew {args.plot} from {args.replot}")
        return 0
    if not args.network or not args.rtmpose:
        raise SystemExit("--network NAME=GLOB (one or more) and --rtmpose FOLDER are required")
    start = header(f"CPU-efficient accuracy target: AP over seeds and OpenVINO latency ({args.threads} thread(s))")

    import torch

    import vipnas
    from vipnas.data import synthpose
    from vipnas.data.synthpose.generate import SynthPoseLayout
    from vipnas.deploy.build import Calibration, CheckData, export_deployment
    from vipnas.evaluation.pipeline import evaluate_model
    from vipnas.models.complexity import arch_complexity
    from vipnas.nas.latency import make_runner

    sys.path.insert(0, str(Path(__file__).parent))
    from latency_aware_search import onnx_runner

    torch.set_num_threads(args.threads)
    precisions = args.precisions.split(",")
    groups: dict[str, list[str]] = {}
    for item in args.network:
        name, _, pattern = item.partition("=")
        files = sorted(glob.glob(pattern))
        if not name or not files:
            raise SystemExit(f"--network {item!r}: expected NAME=GLOB matching checkpoints, found none")
        groups[name] = files
    reference = args.reference or next(iter(groups))
    if reference not in groups:
        raise SystemExit(f"--reference {reference!r}: not one of the networks {sorted(groups)}")
    rtmpose = {file.stem: file for file in sorted(Path(args.rtmpose).glob("rtmpose_*.onnx"))}
    if "rtmpose_t" not in rtmpose:
        raise SystemExit(f"--rtmpose {args.rtmpose}: no rtmpose_t.onnx (run benchmarks/rtmpose_onnx.py)")
    size = tuple(args.latency_size)
    report: dict = {"threads": args.threads, "latency_size": list(size), "images": args.images // 2, "networks": {}}
    with tempfile.TemporaryDirectory(prefix="vipnas-target-") as folder:
        root = Path(folder)
        synthpose.generate(root / "synth", images=args.images, val_fraction=0.5, seed=11, workers=1, progress=False)
        layout = SynthPoseLayout(root / "synth")
        check = CheckData("COCO", str(layout.annotations("val")), str(layout.images("val")))
        calibration = Calibration(
            "COCO", str(layout.annotations("train")), str(layout.images("train")), args.calibration, 0
        )  # fmt: skip
        print(f"data: SynthPose easy seed 11, {args.images // 2} validation images scored")
        runners, first = {}, {}
        for group, (name, files) in enumerate(groups.items()):
            entry = report["networks"][name] = {"checkpoints": files, "AP": {"torch fp32": []}}
            for precision in precisions:
                entry["AP"][f"openvino {precision}"] = []
            for index, file in enumerate(files):
                network = vipnas.load_model(file).eval()
                metrics, _ = evaluate_model(network, "COCO", check.annotation, check.images)
                entry["AP"]["torch fp32"].append(metrics["AP"])
                for precision in precisions:
                    out = root / "deploy" / f"{group}-{index}-{precision}"
                    deployment = export_deployment(
                        network, out, backend="openvino", precision=precision, calibration=calibration, check=check,
                        max_drop=1.0, threads=args.threads,
                    )  # fmt: skip
                    entry["AP"][f"openvino {precision}"].append(deployment.checks["accuracy"]["deployed"])
                print(f"  {name}: {Path(file).parent.parent.name}: "
                      + ", ".join(f"{k} {v[-1]:.4f}" for k, v in entry["AP"].items()), flush=True)  # fmt: skip
                if index == 0:
                    first[name] = network
            arch = getattr(first[name], "arch", None)
            if arch is not None:
                entry["arch"] = arch.to_dict()
                entry["macs_at_latency_size"] = arch_complexity(arch, input_size=size).macs
        for name, network in first.items():
            for precision in precisions:
                runners[(name, precision)] = make_runner(network, (1, 3, *size), "openvino", args.threads,
                                                         precision=precision, realistic_weights=False)  # fmt: skip
        for stem, file in rtmpose.items():
            for precision in precisions:
                options = argparse.Namespace(threads=args.threads, runtime="openvino", precision=precision, out=root)
                runners[(stem, precision)] = onnx_runner(file, options)
        rounds = interleaved_rounds(runners, rounds=args.rounds, runs=args.runs)
    latency = {key: statistics.median(values) for key, values in rounds.items()}
    report["latency_ms"] = [{"network": n, "precision": p, "median_ms": latency[n, p], "round_medians_ms": rounds[n, p]}
                            for n, p in rounds]  # fmt: skip

    print(f"\nAP on {args.images // 2} held-out SynthPose images, mean ± std over seeds (n per network)")
    columns = list(next(iter(report["networks"].values()))["AP"])
    print(f"{'network':28s} {'n':>2s} " + " ".join(f"{c:>20s}" for c in columns))
    for name, entry in report["networks"].items():
        cells = [f"{m:.4f} ± {s:.4f}" for m, s in (spread(entry["AP"][c]) for c in columns)]
        print(f"{name:28s} {len(entry['checkpoints']):2d} " + " ".join(f"{c:>20s}" for c in cells))
    print(f"\nOpenVINO latency at {size[0]}x{size[1]}, batch 1, {args.threads} thread(s): median ms [round min-max]")
    for name in [*groups, *rtmpose]:
        cells = []
        for precision in precisions:
            values = rounds[name, precision]
            cells.append(f"{precision} {latency[name, precision]:6.2f} [{min(values):.2f}-{max(values):.2f}]")
        print(f"  {name:28s} " + "   ".join(cells))
    verdicts = []
    base_mean, base_std = spread(report["networks"][reference]["AP"]["torch fp32"])
    for name in groups:
        if name == reference:
            continue
        for precision in precisions:
            mean, std = spread(report["networks"][name]["AP"][f"openvino {precision}"])
            ref_mean, ref_std = spread(report["networks"][reference]["AP"][f"openvino {precision}"])
            fast = latency[name, precision] <= latency["rtmpose_t", precision]
            torch_mean, torch_std = spread(report["networks"][name]["AP"]["torch fp32"])
            met = fast and torch_mean >= base_mean and mean >= ref_mean
            verdict = {
                "network": name, "precision": precision, "ms": latency[name, precision],
                "rtmpose_t_ms": latency["rtmpose_t", precision], "within_rtmpose_t": fast,
                "torch_AP": [torch_mean, torch_std], "reference_torch_AP": [base_mean, base_std],
                "deployed_AP": [mean, std], "reference_deployed_AP": [ref_mean, ref_std], "met": met,
            }  # fmt: skip
            verdicts.append(verdict)
            word = "MET" if met else "not met"
            print(f"\n{name} on OpenVINO {precision}: {latency[name, precision]:.2f} ms vs RTMPose-t "
                  f"{latency['rtmpose_t', precision]:.2f} ms ({'within' if fast else 'OVER'}); AP torch "
                  f"{torch_mean:.4f} ± {torch_std:.4f} vs {reference} {base_mean:.4f} ± {base_std:.4f}, deployed "
                  f"{mean:.4f} ± {std:.4f} vs {ref_mean:.4f} ± {ref_std:.4f}: {word}")  # fmt: skip
    report["verdicts"] = verdicts
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n")
    if args.plot:
        plot(report, Path(args.plot))
        print(f"AP against latency drawn to {args.plot}")
    footer(start)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
