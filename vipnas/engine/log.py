"""Training logs: a human-readable log file, JSON-lines metrics, and a tqdm-friendly console handler (rank 0)."""

from __future__ import annotations

import json
import logging
import math
import sys
from pathlib import Path
from typing import Any

from vipnas.data.files import write_bytes_atomic

__all__ = ["MetricsLog", "format_duration", "setup_logging"]


class _TqdmHandler(logging.StreamHandler):
    """Writes through ``tqdm.write`` so log lines do not break the progress bar."""

    def emit(self, record: logging.LogRecord) -> None:
        from tqdm import tqdm

        try:
            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:  # logging must never kill training
            self.handleError(record)


def setup_logging(log_file: Path | None, *, is_main: bool) -> logging.Logger:
    """The ``vipnas.train`` logger: INFO to the console and ``log_file`` on rank 0, warnings only elsewhere."""
    logger = logging.getLogger("vipnas.train")
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    logger.setLevel(logging.INFO if is_main else logging.WARNING)
    logger.propagate = False
    console = _TqdmHandler()
    console.setFormatter(logging.Formatter("%(message)s" if is_main else "[rank %(rank)s] %(message)s"))
    if not is_main:
        from vipnas.engine.distributed import get_rank

        console.addFilter(_RankFilter(get_rank()))
    logger.addHandler(console)
    if is_main and log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        file_handler = logging.FileHandler(log_file, encoding="utf-8")
        file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S"))
        logger.addHandler(file_handler)
    return logger


class _RankFilter(logging.Filter):
    def __init__(self, rank: int) -> None:
        super().__init__()
        self.rank = rank

    def filter(self, record: logging.LogRecord) -> bool:
        record.rank = self.rank
        return True


class MetricsLog:
    """Append-only JSON-lines metrics (one object per line: ``{"type": "train"|"val", "iteration": ..., ...}``).

    Each row is one ``write`` of a complete line followed by a flush. On resume, :meth:`truncate_after` drops rows
    the interrupted run wrote after its last checkpoint (rewriting the file atomically), so the file reads as one
    uninterrupted run.
    """

    def __init__(self, path: Path, *, enabled: bool) -> None:
        self.path = path
        self.enabled = enabled
        if enabled:
            path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, row: dict[str, Any]) -> None:
        if not self.enabled:
            return
        clean = {key: (None if isinstance(v, float) and not math.isfinite(v) else v) for key, v in row.items()}
        with open(self.path, "a", encoding="utf-8") as stream:
            stream.write(json.dumps(clean) + "\n")
            stream.flush()

    def truncate_after(self, iteration: int) -> None:
        if not self.enabled or not self.path.is_file():
            return
        kept = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:  # a line cut by a kill
                continue
            if row.get("iteration", 0) <= iteration:
                kept.append(line)
        write_bytes_atomic(self.path, "".join(f"{line}\n" for line in kept).encode("utf-8"))

    def read(self) -> list[dict[str, Any]]:
        if not self.path.is_file():
            return []
        return [json.loads(line) for line in self.path.read_text(encoding="utf-8").splitlines() if line.strip()]


def format_duration(seconds: float) -> str:
    """``h:mm:ss``."""
    seconds = max(int(seconds), 0)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
