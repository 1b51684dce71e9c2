"""One module per ``vipnas`` sub-command (see :mod:`vipnas.cli`), and the argument types they share.

The types turn an impossible value into argparse's usage error (exit status 2, one line naming the option), before
any work starts: ``type=positive_int`` rejects ``0`` and ``-3``, ``type=quantity`` rejects ``nan``, ``inf`` and
``-1M``.

:func:`writable_folder` and :func:`writable_file` check an output path before the work starts, so that an
unwritable ``--out`` fails in its first second with one line naming the folder, not after hours of training.
"""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path


def positive_int(text: str) -> int:
    """An argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def positive_float(text: str) -> float:
    """An argparse type: a finite number > 0 (``nan`` and ``inf`` are refused)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a finite positive number, got {text!r}")
    return value


def quantity(text: str) -> float:
    """An argparse type: a finite positive quantity with an optional k/M/G suffix (``0.5G``, ``3M``, ``750k``)."""
    from vipnas.nas.budget import parse_quantity

    try:
        value = parse_quantity(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a finite positive quantity such as 0.5G, 3M or 750k, got {text!r}")
    return value


def device(text: str) -> str:
    """An argparse type: ``cpu``, ``cuda`` or ``cuda:N`` naming a device this machine has."""
    name = text.strip().lower()
    kind, _, index = name.partition(":")
    if kind not in ("cpu", "cuda") or (index and not index.isdigit()) or (kind == "cpu" and index):
        raise argparse.ArgumentTypeError(f"expected cpu, cuda or cuda:N, got {text!r}")
    if kind == "cuda":
        import torch

        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            built = "this PyTorch is built without CUDA" if torch.version.cuda is None else "no CUDA GPU is visible"
            raise argparse.ArgumentTypeError(f"{text!r}: {built}; use --device cpu")
        if index and int(index) >= count:
            raise argparse.ArgumentTypeError(f"{text!r}: this machine has {count} CUDA device(s), cuda:0..{count - 1}")
    return name


def _folder_problem(path: Path) -> str | None:
    """Why no file can be written in the folder ``path`` (creating it and its parents as needed), or ``None``."""
    if path.exists() and not path.is_dir():
        return f"{path} is a file, expected a folder"
    existing = path
    while not existing.exists() and existing.parent != existing:  # the nearest ancestor that exists
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is a file, so no folder can be created under it"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"folder {existing} is not writable (read-only or permission denied)"
    return None


def writable_folder(path: str | Path, option: str = "--out") -> Path:
    """Check, before the work starts and without creating anything, that the output folder ``path`` (which need
    not exist yet) can be created and written.

    Args:
        path: the output folder.
        option: the command-line option that named it, for the message.

    Raises:
        ValueError: ``path`` or one of its parents is a file, or the nearest existing folder is not writable.
    """
    path = Path(path)
    problem = _folder_problem(path)
    if problem:
        raise ValueError(f"{option} {path}: {problem}")
    return path


def writable_file(path: str | Path, option: str = "--out") -> Path:
    """Check, before the work starts and without writing anything, that the output file ``path`` can be written
    (its folder created if needed).

    Raises:
        ValueError: ``path`` is a folder, or its folder cannot be created or written.
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{option} {path}: is a folder, expected a file name")
    problem = _folder_problem(path.parent)
    if problem:
        raise ValueError(f"{option} {path}: cannot write there: {problem}")
    return path
