"""Damaged images are named errors, in the main process and inside DataLoader workers alike; files written
through a temporary file get the permissions the umask allows."""

from __future__ import annotations

import json
import os
import stat

import cv2
import numpy as np
import pytest
from samples import FIXTURES

from vipnas.cli import main
from vipnas.data.files import encode_jpeg, read_image, write_bytes_atomic

IMAGE = FIXTURES / "coco" / "000000000785.jpg"


def test_truncated_jpeg_is_named_not_decoded_half_grey(tmp_path) -> None:
    data = IMAGE.read_bytes()
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(data[: len(data) // 2])
    # OpenCV decodes it, with the lower half grey and only libjpeg's anonymous stderr warning
    assert cv2.imread(str(cut)) is not None
    with pytest.raises(ValueError, match=r"cut\.jpg is a truncated JPEG: no end-of-image marker.*referenced by x"):
        read_image(cut, "x")
    header_only = tmp_path / "header.jpg"
    header_only.write_bytes(data[:600])  # cut before the first scan
    with pytest.raises(ValueError, match=r"header\.jpg is a truncated JPEG"):
        read_image(header_only)


def test_complete_jpegs_still_read_and_match_opencv(tmp_path) -> None:
    image = read_image(IMAGE)
    expected = cv2.cvtColor(cv2.imread(str(IMAGE), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION), cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(image, expected)
    padded = tmp_path / "padded.jpg"  # bytes after the end-of-image marker, as some cameras write, are allowed
    padded.write_bytes(encode_jpeg(image[:64, :64]) + b"\x00" * 32)
    assert read_image(padded).shape == (64, 64, 3)


def test_corrupt_image_in_a_dataloader_worker_is_one_line(tmp_path, capsys) -> None:
    gt = json.loads((FIXTURES / "coco" / "test_coco.json").read_text())
    gt["annotations"] = [a for a in gt["annotations"] if a["image_id"] == 785][:1]
    gt["images"] = [i for i in gt["images"] if i["id"] == 785]
    (tmp_path / "one.json").write_text(json.dumps(gt))
    images = tmp_path / "images"
    images.mkdir()
    data = IMAGE.read_bytes()
    (images / IMAGE.name).write_bytes(data[: len(data) // 3])
    argv = ["eval", "s_vipnas_mbv3", "--data", "COCO", "--ann", str(tmp_path / "one.json"), "--images", str(images),
            "--workers", "1", "--batch-size", "1", "--no-flip", "--json"]  # fmt: skip
    assert main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("vipnas eval: error: image file ") and "000000000785.jpg is a truncated JPEG" in err[-1]
    assert "image id 785" in err[-1]
    assert not any("Traceback" in line or "DataLoader worker" in line for line in err)


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_atomic_writes_honour_a_umask_set_after_import(tmp_path, umask) -> None:
    previous = os.umask(umask)
    try:
        write_bytes_atomic(tmp_path / "file.json", b"{}")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "file.json").stat().st_mode) == 0o666 & ~umask
