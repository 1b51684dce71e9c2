"""The streaming loop: its key-frame schedule (forced key frames included), one batch per network, the same
keypoints as the training/evaluation propagation on a SynthPose clip, and torch == ONNX Runtime."""

from __future__ import annotations

import random
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch

from vipnas.codec import build_codec
from vipnas.data import synthpose
from vipnas.data.clips import ClipDataset
from vipnas.data.dataset import build_loader
from vipnas.demo import PRETRAINED
from vipnas.engine.propagation import propagate
from vipnas.models.checkpoint import load_model
from vipnas.models.temporal_supernet import TemporalSupernet
from vipnas.runtime.backends import OnnxRuntimeBackend, TorchBackend
from vipnas.runtime.crops import CropSettings, keypoints_to_image
from vipnas.runtime.stream import PoseStream, StreamConfig
from vipnas.space.temporal import TemporalSpace

LENGTH = 2


class Peak:
    """A fake backend: heatmaps with one peak per joint at the crop centre, of height ``score``; counts calls."""

    def __init__(self, temporal: bool, score: float = 0.9) -> None:
        self.temporal, self.score, self.batches = temporal, score, []

    def __call__(self, crops, heatmaps=None):
        self.batches.append(len(crops))
        maps = np.zeros((len(crops), 17, 32, 24), np.float32)
        maps[:, :, 16, 12] = self.score
        return maps


def _detector(boxes_per_frame):
    return lambda image, index: SimpleNamespace(
        boxes=np.asarray(boxes_per_frame.get(index, []), np.float64).reshape(-1, 4),
        scores=np.ones(len(boxes_per_frame.get(index, []))),
    )


def _stream(key, t_vipnets, boxes, **config):
    codec = build_codec("dark", input_size=(96, 128), heatmap_size=(24, 32), sigma=2.0)
    return PoseStream(key, t_vipnets, CropSettings((128, 96)), codec, _detector(boxes), StreamConfig(**config))


def _names(stream, frames):
    image = np.zeros((240, 320, 3), np.uint8)
    return [[p.network for p in stream.step(image, index, index / 30).people] for index in range(frames)]


def test_schedule_key_every_t_plus_1_frames_and_forced_key_frames() -> None:
    still = {i: [[100, 40, 160, 200]] for i in range(7)}
    stream = _stream(Peak(False), [Peak(True), Peak(True)], still)
    assert _names(stream, 7) == [["key"], ["t1"], ["t2"], ["key"], ["t1"], ["t2"], ["key"]]
    # the person jumps on frame 2 (IoU 0.2 with the previous box: the same track, but below jump_iou 0.3)
    jump = {**still, 2: [[140, 40, 200, 200]], 3: [[140, 40, 200, 200]]}
    stream = _stream(Peak(False), [Peak(True), Peak(True)], jump, tracker=_loose())
    assert _names(stream, 4) == [["key"], ["t1"], ["key"], ["t1"]]
    lost = _stream(Peak(False, score=0.1), [Peak(True), Peak(True)], still)  # mean keypoint score 0.1 < 0.2
    assert _names(lost, 3) == [["key"], ["key"], ["key"]]
    alone = _stream(Peak(False), [], still)  # no T-ViPNet: the S-ViPNet every frame
    assert _names(alone, 3) == [["key"]] * 3
    late = {i: [[100, 40, 160, 200]] + ([[20, 30, 70, 180]] if i >= 1 else []) for i in range(3)}
    stream = _stream(Peak(False), [Peak(True), Peak(True)], late)
    assert [sorted(n) for n in _names(stream, 3)] == [["key"], ["key", "t1"], ["t1", "t2"]]  # a new track: key


def _loose():
    from vipnas.runtime.tracking import TrackerConfig

    return TrackerConfig(min_similarity=0.05, metric="iou")


def test_people_of_one_network_run_as_one_batch() -> None:
    key, first = Peak(False), Peak(True)
    three = {i: [[10, 10, 60, 150], [100, 10, 150, 150], [200, 10, 250, 150]] for i in range(2)}
    stream = _stream(key, [first], three)
    _names(stream, 2)
    assert key.batches == [3] and first.batches == [3]


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """A SynthPose clip of T+1 frames, the shipped supernet's largest network as the key and T-ViPNets whose
    fusion projections are random (a fresh supernet's are zero: they would ignore the heatmaps)."""
    root = tmp_path_factory.mktemp("stream")
    synthpose.generate(root, images=0, videos=2, frames=6, seed=4, workers=1, progress=False, val_fraction=0.0)
    pretrained = load_model(PRETRAINED)
    key = pretrained.extract_subnet(pretrained.space.largest()).eval()
    space = TemporalSpace(pretrained.space, key.arch, length=LENGTH)
    supernet = TemporalSupernet.from_key_network(key, space)
    torch.manual_seed(0)
    with torch.no_grad():
        for name, parameter in supernet.named_parameters():
            if "fusions" in name:
                parameter.normal_(0.0, 0.3)
    arch = space.sample(random.Random(5))
    nets = [supernet.extract(frame).eval() for frame in arch.frames]
    codec = build_codec("dark", input_size=(96, 128), heatmap_size=(24, 32), sigma=2.0)
    dataset = ClipDataset(
        synthpose.load(root, "train", videos=True), frames=LENGTH + 1, stride=LENGTH + 1, input_size=(96, 128),
        codec=codec,
    )  # fmt: skip
    batch = next(iter(build_loader(dataset, batch_size=1, num_workers=0)))
    instances = dataset.clips[0]
    return key, nets, codec, batch, instances, root


def _frames_and_boxes(instances):
    frames, boxes = [], {}
    for t, instance in enumerate(instances):
        frames.append(cv2.imread(str(instance.image.path)))
        x, y, w, h = instance.box
        boxes[t] = [[x, y, x + w, y + h]]
    return frames, boxes


def _run(key, nets, codec, instances):
    frames, boxes = _frames_and_boxes(instances)
    stream = PoseStream(key, nets, CropSettings((128, 96)), codec, _detector(boxes), StreamConfig())
    return [stream.step(image, t, t / 30).people for t, image in enumerate(frames)]


def test_the_stream_computes_what_training_and_evaluation_propagate(clip) -> None:
    key, nets, codec, batch, instances, _ = clip
    if not all(instance.image.path.is_absolute() for instance in instances):
        pytest.skip("relative image paths")
    people = _run(TorchBackend(key), [TorchBackend(n) for n in nets], codec, instances)
    with torch.no_grad():
        heatmaps = propagate(key, nets, batch.image, batch.inverse_affine)
    assert [p[0].network for p in people] == ["key", "t1", "t2"]
    for t, maps in enumerate(heatmaps):
        keypoints, scores = codec.decode(maps.numpy())
        expected = keypoints_to_image(keypoints, np.asarray(batch.inverse_affine)[:, t])
        np.testing.assert_allclose(people[t][0].keypoints, expected[0], atol=2e-3)
        np.testing.assert_allclose(people[t][0].scores, scores[0], atol=1e-5)
    # the heatmaps matter: the same frames with the T-ViPNets fed zeros give other keypoints
    blind = [TorchBackend(n) for n in nets]
    for backend in blind:
        backend.network = _Zeroed(backend.network)
    other = _run(TorchBackend(key), blind, codec, instances)
    assert np.abs(other[1][0].keypoints - people[1][0].keypoints).max() > 0.01


class _Zeroed(torch.nn.Module):
    def __init__(self, network):
        super().__init__()
        self.network = network

    def forward(self, crops, heatmaps):
        return self.network(crops, torch.zeros_like(heatmaps))


def test_torch_and_onnxruntime_backends_agree(clip, tmp_path) -> None:
    from vipnas.models.export import export_onnx

    key, nets, codec, _, instances, _ = clip
    export_onnx(key, tmp_path / "key.onnx")
    for index, net in enumerate(nets):
        export_onnx(net, tmp_path / f"t{index}.onnx")
    torch_people = _run(TorchBackend(key), [TorchBackend(n) for n in nets], codec, instances)
    onnx_people = _run(
        OnnxRuntimeBackend(tmp_path / "key.onnx"),
        [OnnxRuntimeBackend(tmp_path / f"t{i}.onnx") for i in range(len(nets))],
        codec,
        instances,
    )
    for ours, theirs in zip(torch_people, onnx_people, strict=True):
        assert ours[0].network == theirs[0].network
        np.testing.assert_allclose(ours[0].keypoints, theirs[0].keypoints, atol=1e-2)
        np.testing.assert_allclose(ours[0].scores, theirs[0].scores, atol=1e-4)


def test_runtime_modules_import_no_elastic_operator() -> None:
    """Every module of vipnas.runtime, by its own imports (lazy ones included), stays clear of vipnas.elastic,
    vipnas.nas, vipnas.engine, vipnas.demo and vipnas.commands."""
    import ast
    from pathlib import Path

    import vipnas.runtime

    banned = ("vipnas.elastic", "vipnas.nas", "vipnas.engine", "vipnas.demo", "vipnas.commands")
    found = []
    for path in Path(vipnas.runtime.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [node.module] if isinstance(node, ast.ImportFrom) and node.module else []
            names += [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            found += [f"{path.name}: {name}" for name in names if name.startswith(banned)]
    assert not found


def test_openvino_backend_agrees_with_torch(clip, tmp_path) -> None:
    """OpenVINO is an optional extra (pip install openvino): skipped when absent."""
    pytest.importorskip("openvino")
    from vipnas.models.export import export_onnx
    from vipnas.runtime.backends import OpenVinoBackend

    key, nets, codec, _, instances, _ = clip
    export_onnx(key, tmp_path / "key.onnx")
    for index, net in enumerate(nets):
        export_onnx(net, tmp_path / f"t{index}.onnx")
    torch_people = _run(TorchBackend(key), [TorchBackend(n) for n in nets], codec, instances)
    openvino = [OpenVinoBackend(tmp_path / f"t{i}.onnx") for i in range(len(nets))]
    vino_people = _run(OpenVinoBackend(tmp_path / "key.onnx"), openvino, codec, instances)
    for ours, theirs in zip(torch_people, vino_people, strict=True):
        assert ours[0].network == theirs[0].network
        np.testing.assert_allclose(ours[0].keypoints, theirs[0].keypoints, atol=1e-2)
        np.testing.assert_allclose(ours[0].scores, theirs[0].scores, atol=1e-4)
