"""Latency of pose networks per runtime and precision on this CPU, in one interleaved run (issue 15's table).

    python benchmarks/deploy_latency.py --rtmpose /tmp/rtmpose_onnx                # with RTMPose-t/-s
    python benchmarks/deploy_latency.py --checkpoints searched.pth --batches 1,8 --threads 1
    python benchmarks/deploy_latency.py --models "" --checkpoints a.pth,b.pth --rtmpose /tmp/rtmpose_onnx_128x96

Networks: S-ViPNAS-Res50, S-ViPNAS-MBv3 and SBL-Res50 at 256×192 (vipnas's, equal to MMPose's), RTMPose-t/-s as
ONNX files written by ``benchmarks/rtmpose_onnx.py`` in the MMPose side environment (a speed reference, random
weights, at the input size they were exported with), and any ``--checkpoints`` (static vipnas networks at their own
input size, e.g. searched ones). Paths: torch eager with
BatchNorm folded (vipnas networks), ONNX Runtime fp32 and int8 (static QDQ), OpenVINO fp32, bf16 and int8 (NNCF),
through the same code ``vipnas export`` uses. Weights do not change speed, so int8 is calibrated here on 32
random crops: these are speeds only (docs/deploy.md has the accuracy of each path on trained networks).

Timing: every (network, path, batch) configuration is timed for ``--runs`` calls in each of ``--rounds`` rounds,
the configurations interleaved within a round; each figure is the median over all calls, with the spread of the
per-round medians (min–max) beside it. Milliseconds per call; for batch 8 also per crop.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from _machine import footer, header

PATHS = ("torch eager", "onnxruntime fp32", "onnxruntime int8", "openvino fp32", "openvino bf16", "openvino int8")


def prepare(name: str, source, folder: Path, paths: list[str], threads: int) -> dict:
    """Callables ``f(batch) -> output`` per path for one network (a vipnas network, or an ONNX file)."""
    import torch

    from vipnas.models.export import convert_openvino, quantize_onnxruntime_int8
    from vipnas.runtime.backends import OnnxRuntimeBackend, OpenVinoBackend

    folder.mkdir(parents=True, exist_ok=True)
    if isinstance(source, Path):  # an ONNX speed reference at the input size it was exported with
        import onnx as onnx_format

        dims = onnx_format.load(str(source), load_external_data=False).graph.input[0].type.tensor_type.shape.dim
        onnx, eager, size = source, None, (int(dims[2].dim_value), int(dims[3].dim_value))
    else:
        from vipnas.models.export import export_onnx
        from vipnas.models.fuse import fold_batchnorm

        eager = fold_batchnorm(source.eval()).eval()
        onnx = folder / "model.onnx"
        export_onnx(eager, onnx)
        size = tuple(source.metadata.input_size)
    generator = np.random.default_rng(0)
    calibration = [{"image": generator.standard_normal((1, 3, *size)).astype(np.float32)} for _ in range(32)]
    calls = {}
    for path in paths:
        if path == "torch eager":
            if eager is None:
                continue

            def run(x, model=eager):
                with torch.inference_mode():
                    return model(torch.from_numpy(x))

            calls[path] = run
        elif path == "onnxruntime fp32":
            calls[path] = OnnxRuntimeBackend(onnx, threads=threads)
        elif path == "onnxruntime int8":
            quantize_onnxruntime_int8(onnx, folder / "int8.onnx", calibration, folder)
            calls[path] = OnnxRuntimeBackend(folder / "int8.onnx", threads=threads)
        elif path in ("openvino fp32", "openvino bf16"):
            if not (folder / "fp32.xml").is_file():
                convert_openvino(onnx, folder / "fp32.xml", "fp32", calibration)
            hint = "bf16" if path.endswith("bf16") else "f32"
            calls[path] = OpenVinoBackend(folder / "fp32.xml", threads=threads, precision=hint)
        elif path == "openvino int8":
            convert_openvino(onnx, folder / "int8.xml", "int8", calibration)
            calls[path] = OpenVinoBackend(folder / "int8.xml", threads=threads)
    return {"size": size, "calls": calls}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rtmpose", default=None, help="folder with rtmpose_t.onnx, rtmpose_s.onnx")
    parser.add_argument("--checkpoints", default="", help="more static vipnas networks (comma list)")
    parser.add_argument("--models", default="s_vipnas_res50,s_vipnas_mbv3,sbl_res50", help="registered networks")
    parser.add_argument("--paths", default=",".join(PATHS))
    parser.add_argument("--batches", default="1,8")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--runs", type=int, default=20, help="timed calls per configuration and round")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    start = header(f"pose networks per runtime and precision ({args.threads} thread(s))")

    import torch
    from tqdm import tqdm

    import vipnas
    from vipnas.models.registry import create_model

    torch.set_num_threads(args.threads)
    paths = args.paths.split(",")
    batches = [int(b) for b in args.batches.split(",")]
    sources: dict = {name: create_model(name) for name in args.models.split(",") if name}
    for path in (p for p in args.checkpoints.split(",") if p):
        sources[Path(path).stem] = vipnas.load_model(path)
    if args.rtmpose:
        for name in ("rtmpose_t", "rtmpose_s"):
            file = Path(args.rtmpose) / f"{name}.onnx"
            if file.is_file():
                sources[name] = file
            else:
                print(f"(no {file}: run benchmarks/rtmpose_onnx.py in the MMPose side environment)")
    with tempfile.TemporaryDirectory(prefix="vipnas-latency-") as folder:
        prepared = {}
        for name, source in tqdm(sources.items(), desc="export and compile", unit="network"):
            prepared[name] = prepare(name, source, Path(folder) / name, paths, args.threads)
        configs = [(n, p, b) for n, v in prepared.items() for p in v["calls"] for b in batches]
        inputs = {
            (n, b): np.random.default_rng(1).standard_normal((b, 3, *prepared[n]["size"])).astype(np.float32)
            for n in prepared
            for b in batches
        }
        for name, path, batch in configs:  # warm-up (and a first compile of each dynamic shape)
            for _ in range(3):
                prepared[name]["calls"][path](inputs[name, batch])
        samples: dict = {c: [] for c in configs}
        rounds: dict = {c: [] for c in configs}
        bar = tqdm(total=args.rounds * len(configs), desc="timing", unit="config")
        for _ in range(args.rounds):
            for config in configs:
                name, path, batch = config
                call, x = prepared[name]["calls"][path], inputs[name, batch]
                times = []
                for _ in range(args.runs):
                    began = time.perf_counter()
                    call(x)
                    times.append(1e3 * (time.perf_counter() - began))
                samples[config] += times
                rounds[config].append(statistics.median(times))
                bar.update(1)
        bar.close()
    report = []
    for batch in batches:
        print(f"\nbatch {batch}: median ms per call [min-max of round medians]" + (", per crop" if batch > 1 else ""))
        print(f"{'network':18s} " + " ".join(f"{p:>22s}" for p in paths))
        for name in prepared:
            cells = []
            for path in paths:
                config = (name, path, batch)
                if config not in samples:
                    cells.append(f"{'-':>22s}")
                    continue
                median = statistics.median(samples[config])
                low, high = min(rounds[config]), max(rounds[config])
                text = f"{median / batch:.2f} [{low / batch:.2f}-{high / batch:.2f}]"
                cells.append(f"{text:>22s}")
                report.append({"network": name, "path": path, "batch": batch, "threads": args.threads,
                               "median_ms": median, "round_medians_ms": rounds[config]})  # fmt: skip
            print(f"{name:18s} " + " ".join(cells))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n")
    footer(start)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
