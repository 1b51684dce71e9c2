"""Fixtures of the ``vipnas serve`` tests: a run folder with a key network, T-ViPNets, a spatial and a temporal
search folder, and a short SynthPose video as an MP4 with its ground-truth boxes."""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path

import pytest
from serve_media import write_video

import vipnas
from vipnas.data import synthpose
from vipnas.data.files import file_digest
from vipnas.data.synthpose.generate import SynthPoseLayout
from vipnas.demo import PRETRAINED
from vipnas.models.checkpoint import load_model
from vipnas.models.complexity import arch_complexity, temporal_complexity
from vipnas.models.temporal_supernet import TemporalSupernet
from vipnas.nas.report import write_search_outputs
from vipnas.nas.search import Candidate, SearchResult
from vipnas.space.temporal import TemporalSpace

INPUT_SIZE = (128, 96)


def _spatial_search(folder: Path, space, rng: random.Random) -> None:
    """A spatial search folder as ``vipnas search`` writes it: 12 candidates of the shipped supernet's space with
    made-up scores that grow with MACs, latencies, and a provenance naming the shipped supernet by digest."""
    candidates = []
    for _ in range(12):
        arch = space.sample(rng)
        cost = arch_complexity(arch, input_size=INPUT_SIZE)
        score = cost.macs / 2e7 + rng.uniform(0, 0.1)
        candidates.append(Candidate(arch, cost.macs, cost.params, cost.macs / 2e6 + rng.uniform(0, 1), {"AP": score}))
    write_search_outputs(folder, SearchResult("random", "AP", "MACs <= 0.02 G", candidates))
    provenance = {"checkpoint": file_digest(PRETRAINED), "budget": {"input_size": list(INPUT_SIZE), "num_joints": 17}}
    (folder / "provenance.json").write_text(json.dumps(provenance))


def _temporal_search(folder: Path, space: TemporalSpace, rng: random.Random) -> None:
    """A temporal search folder as the video demo leaves it: only a result store with its provenance."""
    rows = []
    for _ in range(8):
        arch = space.sample(rng)
        frames = temporal_complexity(arch, input_size=INPUT_SIZE)
        macs = round(sum(f.macs for f in frames) / len(frames))
        metrics = {"Total": 30 + macs / 1e6 + rng.uniform(0, 3), "Total_all": 40.0}
        rows.append(Candidate(arch, macs, sum(f.params for f in frames), None, metrics).to_dict())
    provenance = {"checkpoint": "sha256:0", "budget": {"input_size": list(INPUT_SIZE), "num_joints": 17}}
    folder.mkdir(parents=True)
    (folder / "store.json").write_text(json.dumps({"provenance": provenance, "candidates": rows}))


@pytest.fixture(scope="session")
def serve_runs(tmp_path_factory) -> Path:
    """``runs/`` holding ``key.pth``, ``t_vipnas/`` (T=2), ``search-spatial/`` and ``search-temporal/``."""
    root = tmp_path_factory.mktemp("serve-runs") / "runs"
    root.mkdir()
    pretrained = load_model(PRETRAINED)
    key = pretrained.extract_subnet(pretrained.space.largest(), name="key").eval()
    key.metadata = dataclasses.replace(key.metadata, dataset="POSETRACK18")
    vipnas.save_model(key, root / "key.pth")
    temporal_space = TemporalSpace(pretrained.space, key.arch, length=2)
    supernet = TemporalSupernet.from_key_network(key, temporal_space)
    arch = supernet.space.sample(random.Random(1))
    (root / "t_vipnas").mkdir()
    (root / "t_vipnas" / "temporal_arch.json").write_text(json.dumps(arch.to_dict()))
    for index, frame in enumerate(arch.frames, start=1):
        vipnas.save_model(supernet.extract(frame), root / "t_vipnas" / f"t_vipnet_frame{index}.pth")
    rng = random.Random(0)
    _spatial_search(root / "search-spatial", pretrained.space, rng)
    _temporal_search(root / "search-temporal", temporal_space, rng)
    return root


@pytest.fixture(scope="session")
def synthpose_video(tmp_path_factory) -> tuple[Path, Path, int]:
    """A 10-frame SynthPose video as an MP4 (``clip.mp4``) and its PoseTrack18 ground truth (``clip.json``)."""
    root = tmp_path_factory.mktemp("serve-video")
    synthpose.generate(
        root / "synth", images=0, videos=1, frames=10, seed=3, val_fraction=0.0, workers=1, progress=False
    )
    layout = SynthPoseLayout(root / "synth")
    truth = sorted(layout.video_annotations("train").glob("*.json"))[0]
    count = write_video(layout.posetrack_root / "images" / "train" / truth.stem, root / "clip.mp4")
    (root / "clip.json").write_text(truth.read_text())
    return root / "clip.mp4", root / "clip.json", count
