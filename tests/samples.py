"""Where the tests find real dataset samples (see tests/fixtures/README.md).

- ``FIXTURES``: ``tests/fixtures/real``, shipped with the repository: the annotation files of COCO, CrowdPose,
  MPII and PoseTrack18 and one COCO image, all that the evaluation tests need.
- ``SHARED``: ``../shared/real_samples`` beside the checkout when CI adds it: the same files plus every image,
  mask, detector file and video, for the data tests (which skip without it). ``VIPNAS_SHARED_SAMPLES=DIR``
  points elsewhere; ``VIPNAS_SHARED_SAMPLES=none`` hides it, to run the suite as a plain clone would.
- ``REAL``: ``SHARED`` when present, else ``FIXTURES``: the annotation files are identical in both.

Importable from every test module because pytest puts this folder (the one of the root ``conftest.py``) on the path.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["FIXTURES", "REAL", "SHARED"]

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "real"


def _shared() -> Path:
    override = os.environ.get("VIPNAS_SHARED_SAMPLES")
    if override is None:
        return Path(__file__).resolve().parents[2] / "shared" / "real_samples"
    if override.strip().lower() in ("", "none", "0"):
        return FIXTURES.parent / "no-shared-samples"  # a path that does not exist
    return Path(override)


SHARED = _shared()
REAL = SHARED if SHARED.is_dir() else FIXTURES
