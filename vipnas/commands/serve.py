"""``vipnas serve``: a local web page to run video pose and to explore a search (see docs/serve.md)."""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import sys

from vipnas.commands import positive_int

HELP = "a local web page: video pose with live results and downloads, and a search's Pareto front to click"
EXAMPLES = [
    "vipnas serve                                   # http://127.0.0.1:8000, networks and searches of runs/",
    "vipnas serve --runs runs/demo --runs runs/demo-video --port 8080",
    "vipnas serve --detector onnx:yolov8n.onnx --workers 2 --threads 2",
    "pip install 'vipnas[serve]'                    # Starlette and uvicorn, if missing",
]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    parser.add_argument(
        "--runs",
        action="append",
        default=None,
        help="folder of runs to offer networks and searches from (repeatable; default runs)",
    )
    parser.add_argument(
        "--detector", action="append", default=[], help="a detector spec offered to every job (repeatable)"
    )
    parser.add_argument("--max-upload-mb", type=positive_int, default=256, help="largest upload in MiB (default 256)")
    parser.add_argument("--workers", type=positive_int, default=4, help="jobs that run at once (default 4)")
    parser.add_argument("--threads", type=positive_int, default=1, help="inference threads per job (default 1)")
    parser.add_argument("--clips", type=int, default=2, help="SynthPose clips rendered at start (default 2)")


LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1", "[::1]")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    try:
        import uvicorn

        from vipnas.serve.app import create_app
    except ImportError as error:
        raise ImportError(f"vipnas serve needs the serve extra: pip install 'vipnas[serve]' ({error})") from None
    from vipnas.serve import ServeSettings

    if not 0 <= args.port <= 65535:
        raise ValueError(f"--port {args.port}: expected 0..65535")
    if args.clips < 0:
        raise ValueError(f"--clips {args.clips}: expected 0 or more")
    from vipnas.runtime.detectors import build_detector

    for spec in args.detector:  # a wrong spec fails now, named, rather than in every job
        build_detector(spec)
    runs = tuple(Path(folder) for folder in (args.runs or ["runs"]))
    missing = [str(folder) for folder in runs if not folder.is_dir()]
    if missing and args.runs:
        raise FileNotFoundError(f"--runs {', '.join(missing)}: no such folder")
    settings = ServeSettings(
        runs=runs, max_upload_bytes=args.max_upload_mb * 2**20, workers=args.workers, threads=args.threads,
        clips=args.clips, detectors=tuple(args.detector),
        allowed_hosts=(*LOOPBACK_NAMES, args.host) if _loopback(args.host) else None,
    )  # fmt: skip
    if not _loopback(args.host):
        print(f"vipnas serve: warning: bound to {args.host}: anyone who reaches it can upload and run videos "
              "(there is no account)", file=sys.stderr)  # fmt: skip
    address = f"[{args.host}]" if ":" in args.host else args.host
    print(f"vipnas serve: http://{address}:{args.port} (Ctrl-C stops it and removes its temporary files)", flush=True)
    config = uvicorn.Config(create_app(settings), host=args.host, port=args.port, log_level="warning",
                            timeout_graceful_shutdown=3)  # fmt: skip
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn shuts down on Ctrl-C (the lifespan removes the files),
        uvicorn.Server(config).run()  # then raises it again
    print("vipnas serve: stopped", flush=True)
    return 0
