"""``vipnas.runtime.video_io``: reading a video, an image folder; the named errors of bad sources; the MP4 writer,
its frame count, its size check and the complete file it leaves after a KeyboardInterrupt."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from vipnas.runtime.video_io import DEFAULT_FPS, Frame, VideoWriter, natural_sort_key, open_frames

WIDTH, HEIGHT, FRAMES, FPS = 64, 48, 12, 10.0


def square_frame(index: int) -> np.ndarray:
    """A black 64x48 frame with a white 12x12 square moving 4 pixels right per frame."""
    image = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    image[18:30, 4 * index : 4 * index + 12] = 255
    return image


def read_back(path: Path) -> list[np.ndarray]:
    """Every frame OpenCV decodes from a video file."""
    capture = cv2.VideoCapture(str(path))
    assert capture.isOpened(), f"{path} does not open"
    frames = []
    while True:
        ok, image = capture.read()
        if not ok:
            break
        frames.append(image)
    capture.release()
    return frames


def bright_column(image: np.ndarray) -> float:
    """Mean x of the bright pixels."""
    return float(np.nonzero(image[:, :, 0] > 128)[1].mean())


@pytest.fixture
def video(tmp_path: Path) -> Path:
    path = tmp_path / "square.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (WIDTH, HEIGHT))
    assert writer.isOpened()
    for index in range(FRAMES):
        writer.write(square_frame(index))
    writer.release()
    return path


# ----------------------------------------------------------------------------------------------- reading


def test_a_video_file_reads_back_with_its_count_size_and_times(video: Path) -> None:
    with open_frames(str(video)) as source:
        assert (source.name, source.fps, source.frame_count, source.size) == ("square.mp4", FPS, FRAMES, (64, 48))
        frames = list(source)
    assert [frame.index for frame in frames] == list(range(FRAMES))
    np.testing.assert_allclose([frame.time_s for frame in frames], np.arange(FRAMES) / FPS)
    assert all(frame.image.shape == (HEIGHT, WIDTH, 3) and frame.image.dtype == np.uint8 for frame in frames)
    columns = [bright_column(frame.image) for frame in frames]  # the square moves right, 4 px a frame
    np.testing.assert_allclose(np.diff(columns), 4.0, atol=1.0)
    assert source.closed
    with pytest.raises(ValueError, match="closed"):
        source.read()


def test_a_folder_of_images_in_natural_order(tmp_path: Path) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    for number in (10, 1, 2):
        assert cv2.imwrite(str(folder / f"frame{number}.png"), np.full((HEIGHT, WIDTH, 3), number * 10, np.uint8))
    (folder / "notes.txt").write_text("not a frame")
    with open_frames(folder) as source:
        assert (source.name, source.fps, source.frame_count, source.size) == ("frames", DEFAULT_FPS, 3, (64, 48))
        frames = list(source)
    assert [int(frame.image[0, 0, 0]) for frame in frames] == [10, 20, 100]  # frame1, frame2, frame10
    np.testing.assert_allclose([frame.time_s for frame in frames], [0, 1 / 30, 2 / 30])
    with open_frames(folder, fps=5) as source:
        assert [frame.time_s for frame in source] == [0.0, 0.2, 0.4]


def test_natural_sort_key() -> None:
    names = ["img10.png", "IMG2.png", "img1.png", "a.png", "img2b.png"]
    assert sorted(names, key=natural_sort_key) == ["a.png", "img1.png", "IMG2.png", "img2b.png", "img10.png"]


def test_frames_are_frozen() -> None:
    frame = Frame(0, 0.0, np.zeros((1, 1, 3), np.uint8))
    with pytest.raises(AttributeError):
        frame.index = 1  # type: ignore[misc]


# ----------------------------------------------------------------------------------------------- bad sources


def test_a_missing_path(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nowhere\.mp4: no such video file or image folder"):
        open_frames(tmp_path / "nowhere.mp4")


def test_a_zero_byte_file(tmp_path: Path) -> None:
    (tmp_path / "empty.mp4").touch()
    with pytest.raises(ValueError, match=r"empty\.mp4: empty file \(0 bytes\); expected a video"):
        open_frames(tmp_path / "empty.mp4")


def test_random_bytes_named_mp4(tmp_path: Path) -> None:
    (tmp_path / "noise.mp4").write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(ValueError, match=r"noise\.mp4: OpenCV cannot decode this file as a video"):
        open_frames(tmp_path / "noise.mp4")


def test_an_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "nothing").mkdir()
    (tmp_path / "nothing" / "readme.txt").write_text("no images here")
    with pytest.raises(ValueError, match=r"nothing: no images \(\.jpg, \.jpeg, \.png, \.bmp\) in this folder"):
        open_frames(tmp_path / "nothing")


def test_a_folder_with_a_corrupt_image_names_it(tmp_path: Path) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    for number in (0, 2):
        cv2.imwrite(str(folder / f"{number:03d}.png"), np.zeros((HEIGHT, WIDTH, 3), np.uint8))
    (folder / "001.png").write_bytes(np.random.default_rng(1).bytes(500))
    with open_frames(folder) as source:
        assert source.read() is not None
        with pytest.raises(ValueError, match=r"001\.png: OpenCV cannot read image 1 of the folder"):
            source.read()


def test_a_folder_with_an_empty_or_a_differently_sized_image(tmp_path: Path) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    cv2.imwrite(str(folder / "000.png"), np.zeros((HEIGHT, WIDTH, 3), np.uint8))
    cv2.imwrite(str(folder / "001.png"), np.zeros((HEIGHT, WIDTH + 2, 3), np.uint8))
    with open_frames(folder) as source, pytest.raises(ValueError, match=r"001\.png: image 1 .* is 66x48, the first is"):
        list(source)
    (folder / "002.png").touch()
    with pytest.raises(ValueError, match=r"002\.png: empty image file \(0 bytes\)"):
        open_frames(folder)


def test_a_webcam_that_does_not_open() -> None:
    for source in (97, "97"):
        with pytest.raises(ValueError, match="webcam 97: OpenCV cannot open this camera"):
            open_frames(source)


# ----------------------------------------------------------------------------------------------- writing


def test_the_writer_counts_frames_and_leaves_only_the_final_file(tmp_path: Path) -> None:
    path = tmp_path / "out.mp4"
    with VideoWriter(path, FPS, (WIDTH, HEIGHT)) as writer:
        for index in range(7):
            writer.write(square_frame(index))
        assert writer.frame_count == 7 and not path.exists()  # still under its temporary name
    assert writer.closed and [item.name for item in tmp_path.iterdir()] == ["out.mp4"]
    frames = read_back(path)
    assert len(frames) == 7 and all(frame.shape == (HEIGHT, WIDTH, 3) for frame in frames)
    with open_frames(path) as source:
        assert (source.frame_count, source.fps, source.size) == (7, FPS, (WIDTH, HEIGHT))


def test_the_writer_refuses_frames_of_another_size_or_kind(tmp_path: Path) -> None:
    with VideoWriter(tmp_path / "out.mp4", FPS, (WIDTH, HEIGHT)) as writer:
        writer.write(square_frame(0))
        with pytest.raises(ValueError, match=r"out\.mp4: frame 1 is 32x48; the video is 64x48"):
            writer.write(np.zeros((HEIGHT, 32, 3), np.uint8))
        with pytest.raises(ValueError, match=r"frame 1 must be a \(H, W, 3\) uint8 BGR array"):
            writer.write(np.zeros((HEIGHT, WIDTH), np.uint8))
        assert writer.frame_count == 1
    with pytest.raises(ValueError, match="closed"):
        writer.write(square_frame(0))
    with pytest.raises(ValueError, match=r"expected a \.mp4 path"):
        VideoWriter(tmp_path / "out.avi", FPS, (WIDTH, HEIGHT))
    with pytest.raises(FileNotFoundError, match="no such folder"):
        VideoWriter(tmp_path / "missing" / "out.mp4", FPS, (WIDTH, HEIGHT))


def test_a_keyboard_interrupt_inside_the_writer_leaves_a_valid_mp4(tmp_path: Path) -> None:
    path = tmp_path / "interrupted.mp4"
    with pytest.raises(KeyboardInterrupt), VideoWriter(path, FPS, (WIDTH, HEIGHT)) as writer:
        for index in range(FRAMES):
            if index == 5:
                raise KeyboardInterrupt
            writer.write(square_frame(index))
    assert writer.frame_count == 5 and [item.name for item in tmp_path.iterdir()] == ["interrupted.mp4"]
    frames = read_back(path)
    assert len(frames) == 5
    np.testing.assert_allclose(np.diff([bright_column(frame) for frame in frames]), 4.0, atol=1.0)


def test_a_writer_without_frames_leaves_no_file(tmp_path: Path) -> None:
    with VideoWriter(tmp_path / "nothing.mp4", FPS, (WIDTH, HEIGHT)):
        pass
    assert list(tmp_path.iterdir()) == []
