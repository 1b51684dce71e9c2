"""One module per ``vipnas`` sub-command (see :mod:`vipnas.cli`), and the argument types they share.

The types turn an impossible value into argparse's usage error (exit status 2, one line naming the option), before
any work starts: ``type=positive_int`` rejects ``0`` and ``-3``, ``type=quantity`` rejects ``nan``, ``inf`` and
``-1M``.
"""

from __future__ import annotations

import argparse
import math


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
