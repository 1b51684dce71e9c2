"""`vipnas video`: a SynthPose video's frame folder through the key network and T-ViPNets with ground-truth boxes;
every output is written and consistent (MP4 frame count, one JSON line per frame, the schedule), the PoseTrack
predictions score with `vipnas eval --tracking`, and bad input is one line."""

from __future__ import annotations

import dataclasses
import json
import random
import shutil

import cv2
import pytest

import vipnas
from vipnas.cli import main
from vipnas.data import synthpose
from vipnas.data.synthpose.generate import SynthPoseLayout
from vipnas.demo import PRETRAINED
from vipnas.models.checkpoint import load_model
from vipnas.models.temporal_supernet import TemporalSupernet
from vipnas.space.temporal import TemporalSpace


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("video-command")
    synthpose.generate(root / "synth", images=0, videos=2, frames=7, seed=8, workers=1, progress=False)
    layout = SynthPoseLayout(root / "synth")
    pretrained = load_model(PRETRAINED)
    key = pretrained.extract_subnet(pretrained.space.largest(), name="key").eval()
    key.metadata = dataclasses.replace(key.metadata, dataset="POSETRACK18")
    vipnas.save_model(key, root / "key.pth")
    supernet = TemporalSupernet.from_key_network(key, TemporalSpace(pretrained.space, key.arch, length=2))
    arch = supernet.space.sample(random.Random(1))
    (root / "t_vipnas").mkdir()
    for index, frame in enumerate(arch.frames, start=1):
        vipnas.save_model(supernet.extract(frame), root / "t_vipnas" / f"t_vipnet_frame{index}.pth")
    gt = sorted(layout.video_annotations("val").glob("*.json"))[0]
    frames = layout.posetrack_root / "images" / "val" / gt.stem
    return root, gt, frames


def test_video_command_writes_consistent_outputs_that_vipnas_eval_scores(setup, capsys) -> None:
    root, gt, frames = setup
    out = root / "out"
    args = ["video", str(frames), "--model", str(root / "key.pth"), "--temporal", str(root / "t_vipnas"),
            "--detector", f"gt:{gt}", "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "done: 7 frames" in printed and "2 T-ViPNet(s)" in printed
    lines = [json.loads(line) for line in (out / f"{gt.stem}.jsonl").read_text().splitlines()]
    assert [line["frame"] for line in lines] == list(range(7))
    capture = cv2.VideoCapture(str(out / f"{gt.stem}.mp4"))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 7
    capture.release()
    networks: dict[int, list[str]] = {}
    for line in lines:
        for person in line["people"]:
            networks.setdefault(person["track_id"], []).append(person["network"])
            assert len(person["keypoints"]) == 17 * 3
    assert networks and all(names[:3] == ["key", "t1", "t2"] for names in networks.values() if len(names) >= 3)
    # the PoseTrack predictions score against the video's ground truth (its folder alone)
    truth = root / "truth"
    truth.mkdir()
    shutil.copy(gt, truth / gt.name)
    assert main(["eval", "--preds", str(out / "posetrack"), "--ann", str(truth), "--data", "POSETRACK",
                 "--tracking", "--json"]) == 0  # fmt: skip
    metrics = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert 0 < metrics["Total"] <= 100 and metrics["MOTA_Total"] <= 100 and metrics["Recall_Total"] > 0


def test_video_command_names_bad_input(setup, tmp_path, capsys) -> None:
    root, gt, _ = setup
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    assert main(["video", str(empty), "--model", str(root / "key.pth"), "--detector", f"gt:{gt}"]) != 0
    assert "empty.mp4" in capsys.readouterr().err
    assert main(["video", str(empty), "--model", str(root / "key.pth"), "--detector", "nonsense"]) != 0
    assert "nonsense" in capsys.readouterr().err


def _video_file(frames_folder, path, repeat: int) -> int:
    """An MP4 of the folder's frames, ``repeat`` times over; returns its frame count."""
    images = [cv2.imread(str(p)) for p in sorted(frames_folder.glob("*.jpg"))]
    height, width = images[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (width, height))
    for _ in range(repeat):
        for image in images:
            writer.write(image)
    writer.release()
    return len(images) * repeat


def _sim_truth(gt, path, repeat: int) -> None:
    """The video's ground truth repeated ``repeat`` times (frame_index set), for a detector over a longer video."""
    data = json.loads(gt.read_text())
    images = sorted(data["images"], key=lambda image: image["frame_id"])
    out_images, out_annotations = [], []
    for copy in range(repeat):
        for index, image in enumerate(images):
            new_id = copy * 1000 + index
            out_images.append({**image, "id": new_id, "frame_id": new_id, "frame_index": copy * len(images) + index})
            out_annotations += [{**a, "image_id": new_id} for a in data["annotations"] if a["image_id"] == image["id"]]
    path.write_text(
        json.dumps({"images": out_images, "annotations": out_annotations, "categories": data["categories"]})
    )


def test_a_video_file_gives_an_mp4_of_as_many_frames(setup, tmp_path) -> None:
    root, gt, frames = setup
    count = _video_file(frames, tmp_path / "clip.mp4", repeat=2)
    _sim_truth(gt, tmp_path / "truth.json", repeat=2)
    args = ["video", str(tmp_path / "clip.mp4"), "--model", str(root / "key.pth"),
            "--detector", f"gt:{tmp_path / 'truth.json'}", "--out", str(tmp_path / "out")]  # fmt: skip
    assert main(args) == 0
    capture = cv2.VideoCapture(str(tmp_path / "out" / "clip.mp4"))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == count == 14
    capture.release()


def test_sigint_mid_video_leaves_valid_outputs_for_the_frames_done(setup, tmp_path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    root, gt, frames = setup
    count = _video_file(frames, tmp_path / "long.mp4", repeat=60)
    _sim_truth(gt, tmp_path / "truth.json", repeat=60)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "vipnas", "video", str(tmp_path / "long.mp4"), "--model", str(root / "key.pth"),
               "--detector", f"gt:{tmp_path / 'truth.json'}", "--out", str(out)]  # fmt: skip
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "OMP_NUM_THREADS": "1"}
    )
    lines = out / "long.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and (not lines.is_file() or len(lines.read_text().splitlines()) < 5):
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr.decode()[-2000:]
    done = len(lines.read_text().splitlines())
    assert 5 <= done < count and f"stopped (Ctrl-C) after {done} frames" in stdout.decode()
    capture = cv2.VideoCapture(str(out / "long.mp4"))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == done
    capture.release()
    predictions = json.loads((out / "posetrack" / "long.json").read_text())
    assert len(predictions["images"]) == done and json.loads((out / "long_coco.json").read_text())


def test_video_command_with_torch_checkpoints_loads_no_supernet_code(setup, tmp_path) -> None:
    """Deploying an S-ViPNet and its T-ViPNets (torch checkpoints, torch backend) loads nothing of the supernets,
    the search or the trainer: the process ends without vipnas.elastic, vipnas.nas or vipnas.engine."""
    import subprocess
    import sys

    root, gt, frames = setup
    script = (
        "import sys\n"
        "from vipnas.cli import main\n"
        f"code = main(['video', {str(frames)!r}, '--model', {str(root / 'key.pth')!r}, '--temporal', "
        f"{str(root / 't_vipnas')!r}, '--detector', 'gt:{gt}', '--out', {str(tmp_path)!r}, '--no-video'])\n"
        "banned = ('vipnas.elastic', 'vipnas.nas', 'vipnas.engine', 'vipnas.demo')\n"
        "print('LOADED', sorted(name for name in sys.modules if name.startswith(banned)), code)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "LOADED [] 0" in result.stdout and "2 T-ViPNet(s)" in result.stdout
