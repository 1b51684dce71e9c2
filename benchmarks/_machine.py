"""Shared header for benchmark output: machine, CPU, threads and library versions."""

from __future__ import annotations

import os
import platform
import time


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as stream:
            for line in stream:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def machine() -> str:
    """One line: CPU, logical cores, operating system."""
    return f"{cpu_name()}, {os.cpu_count()} logical CPUs, {platform.system()} {platform.release()}"


def header(title: str) -> float:
    """Print a benchmark header; returns the start time (``time.perf_counter()``)."""
    import torch

    print(f"== {title}")
    system = f"{platform.system()} {platform.release()}"
    print(f"machine: {platform.node()} | {cpu_name()} | {os.cpu_count()} logical cores | {system}")
    print(f"python {platform.python_version()} | torch {torch.__version__} | torch threads {torch.get_num_threads()}")
    return time.perf_counter()


def footer(start: float) -> None:
    print(f"runtime: {time.perf_counter() - start:.1f} s")
