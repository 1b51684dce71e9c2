"""The real search: the shipped trained tiny supernet, `vipnas search` through the CLI (budget, determinism),
SIGKILL and resume of a search subprocess, and a 2-process torchrun search that splits the candidates."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from vipnas.data import synthpose
from vipnas.demo import PRETRAINED

SEARCH = ["--candidates", "8", "--budget-macs", "8M", "--val-limit", "4", "--calibration-images", "8", "--seed", "3"]


@pytest.fixture(scope="module")
def supernet_checkpoint(tmp_path_factory):
    """The shipped trained tiny supernet (``vipnas/pretrained``), its config pointed at 20 fresh SynthPose easy
    images: trained weights, so the candidates' APs differ and every comparison below can fail."""
    root = tmp_path_factory.mktemp("search-data")
    synthpose.generate(root / "data", images=20, seed=5, workers=1, progress=False)
    payload = torch.load(PRETRAINED, map_location="cpu", weights_only=True)
    payload["config"]["data"].update(
        root=str(root / "data"), synthpose_images=20, synthpose_seed=5, synthpose_test_fraction=0.0, val_limit=0
    )
    torch.save(payload, root / "supernet.pth")
    return root / "supernet.pth"


MORE = ("--candidates", "16")  # the kill test: candidates take ~0.1 s each, so that the kill lands mid-search


def _search(checkpoint, out, *extra, launcher=(sys.executable, "-m", "vipnas")) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [*launcher, "search", str(checkpoint), *SEARCH, "--out", str(out), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )


def _finish(process: subprocess.Popen) -> str:
    output, _ = process.communicate(timeout=600)
    assert process.returncode == 0, output[-3000:]
    return output


def _candidates(out) -> list[dict]:
    return json.loads((out / "candidates.json").read_text())["candidates"]


def test_search_command_respects_budget_and_is_deterministic(supernet_checkpoint, tmp_path) -> None:
    _finish(_search(supernet_checkpoint, tmp_path / "a"))
    _finish(_search(supernet_checkpoint, tmp_path / "b"))
    first, second = _candidates(tmp_path / "a"), _candidates(tmp_path / "b")
    assert len(first) == 8 and all(c["macs"] <= 8e6 for c in first)
    assert len({c["AP"] for c in first}) >= 4 and min(c["AP"] for c in first) > 0  # trained: candidates differ
    assert [c["arch"] for c in first] == [c["arch"] for c in second]
    assert [c["AP"] for c in first] == [c["AP"] for c in second]  # evaluation is deterministic too
    best = json.loads((tmp_path / "a" / "best_arch.json").read_text())
    assert best["AP"] == max(c["AP"] for c in first)
    for name in ("pareto_macs.png", "best_arch.png", "arch.json", "store.json"):
        assert (tmp_path / "a" / name).is_file()


def test_search_killed_and_resumed_equals_an_uninterrupted_search(supernet_checkpoint, tmp_path) -> None:
    _finish(_search(supernet_checkpoint, tmp_path / "whole", *MORE))
    out = tmp_path / "killed"
    process = _search(supernet_checkpoint, out, *MORE)
    store = out / "store.json"
    deadline = time.time() + 300
    while time.time() < deadline:  # kill -9 once some (not all) candidates are on disk
        if store.is_file() and 2 <= len(json.loads(store.read_text())["candidates"]) < 16:
            break
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done = len(json.loads(store.read_text())["candidates"])
    assert 2 <= done < 16
    output = _finish(_search(supernet_checkpoint, out, *MORE))
    assert f"resuming: {done} candidates already evaluated" in output
    whole, resumed = _candidates(tmp_path / "whole"), _candidates(out)
    assert [c["arch"] for c in resumed] == [c["arch"] for c in whole]
    assert [c["AP"] for c in resumed] == [c["AP"] for c in whole] and len({c["AP"] for c in whole}) >= 8


@pytest.mark.dist
def test_two_process_torchrun_search_splits_candidates(supernet_checkpoint, tmp_path) -> None:
    _finish(_search(supernet_checkpoint, tmp_path / "single"))
    launcher = (sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--standalone", "-m", "vipnas")
    _finish(_search(supernet_checkpoint, tmp_path / "dist", launcher=launcher))
    single, distributed = _candidates(tmp_path / "single"), _candidates(tmp_path / "dist")
    assert [c["arch"] for c in distributed] == [c["arch"] for c in single]
    assert [c["AP"] for c in distributed] == pytest.approx([c["AP"] for c in single], abs=1e-9)


def test_search_refuses_a_store_made_by_another_supernet_or_setting(supernet_checkpoint, tmp_path) -> None:
    out = tmp_path / "search"
    _finish(_search(supernet_checkpoint, out, "--candidates", "2"))
    stored = (out / "store.json").read_text()
    other = tmp_path / "other.pth"  # another supernet: the same checkpoint with one weight changed
    payload = torch.load(supernet_checkpoint, map_location="cpu", weights_only=True)
    name = next(key for key, value in payload["state_dict"].items() if value.is_floating_point())
    payload["state_dict"][name] = payload["state_dict"][name] + 0.5
    torch.save(payload, other)
    for checkpoint, extra, named in (
        (other, [], ["checkpoint: stored"]),
        (supernet_checkpoint, ["--val-limit", "1", "--no-flip"], ["evaluation.val_limit: stored 4, now 1",
                                                                  "evaluation.flip: stored true, now false"]),
    ):  # fmt: skip
        process = _search(checkpoint, out, "--candidates", "2", *extra)
        output, _ = process.communicate(timeout=600)
        assert process.returncode == 1, output[-3000:]
        last = output.strip().splitlines()[-1]
        assert last.startswith(f"vipnas search: error: search results {out / 'store.json'} were produced by another")
        assert all(text in last for text in named) and "another --out" in last, last
        assert "Traceback" not in output and "resuming" not in output
    assert (out / "store.json").read_text() == stored  # nothing replayed, nothing overwritten


def test_search_command_measures_latency_whole_and_refuses_other_conditions(supernet_checkpoint, tmp_path) -> None:
    pytest.importorskip("onnxruntime")
    out = tmp_path / "measured"
    extra = ("--measure-latency", "onnxruntime:fp32", "--budget-latency", "50")
    output = _finish(_search(supernet_checkpoint, out, *extra))
    candidates = _candidates(out)
    cache = json.loads((out / "measured_latency.json").read_text())
    assert len(candidates) == 8 and all(0 < c["latency_ms"] <= 50 for c in candidates)
    for candidate in candidates:  # the candidates' latencies are the measured ones
        assert cache["entries"][json.dumps(candidate["arch"], sort_keys=True)] == candidate["latency_ms"]
    assert "onnxruntime fp32, measured" in output
    process = _search(supernet_checkpoint, out, *extra, "--latency-threads", "2")
    output, _ = process.communicate(timeout=600)
    assert process.returncode != 0 and "threads" in output and "Traceback" not in output


def test_search_command_times_candidates_at_the_latency_input_size(supernet_checkpoint, tmp_path) -> None:
    # a supernet trained at one size searched for deployment at another: the measured cache records the size it
    # timed at, and a cache timed at another size is refused, not reused
    pytest.importorskip("onnxruntime")
    out = tmp_path / "sized"
    extra = ("--measure-latency", "onnxruntime:fp32", "--budget-latency", "200", "--candidates", "2")
    output = _finish(_search(supernet_checkpoint, out, *extra, "--latency-input-size", "128", "96"))
    assert "measured at 128x96" in output
    cache = json.loads((out / "measured_latency.json").read_text())
    assert cache["conditions"]["input_size"] == [128, 96]
    for candidate in _candidates(out):  # every candidate's latency is the one timed at that size
        assert cache["entries"][json.dumps(candidate["arch"], sort_keys=True)] == candidate["latency_ms"]
    process = _search(supernet_checkpoint, out, *extra, "--latency-input-size", "96", "96")
    output, _ = process.communicate(timeout=600)
    assert process.returncode != 0 and "input_size" in output and "Traceback" not in output
    process = _search(supernet_checkpoint, tmp_path / "bad", *extra, "--latency-input-size", "100", "96")
    output, _ = process.communicate(timeout=600)
    assert process.returncode != 0 and "--latency-input-size" in output and "(100, 96)" in output
    assert "Traceback" not in output
