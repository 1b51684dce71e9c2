"""`vipnas demo --quick`: the whole pipeline runs, respects its budget, writes its outputs, and resumes."""

from __future__ import annotations

import json

import pytest

from vipnas.cli import main
from vipnas.demo import QUICK, run_demo
from vipnas.models.checkpoint import load_model
from vipnas.space.arch import load_arch


def test_quick_demo_end_to_end_and_resume(tmp_path, capsys) -> None:
    out = tmp_path / "demo"
    summary = run_demo(out, QUICK, data_root=tmp_path / "data")
    rows = {row["network"]: row for row in summary["rows"]}
    assert set(rows) == {"largest", "smallest", "baseline", "searched"}
    assert rows["smallest"]["macs"] < rows["searched"]["macs"] < rows["largest"]["macs"]
    assert rows["baseline"]["macs"] <= rows["searched"]["macs"]  # the hand-shrunk arch of (at most) the same MACs
    assert all(0.0 <= row["AP_supernet"] <= 1.0 and row["latency_ms"] > 0 for row in rows.values())
    assert "AP_finetuned" in rows["searched"] and "AP_finetuned" in rows["baseline"]
    candidates = json.loads((out / "search" / "candidates.json").read_text())["candidates"]
    budget = float(summary["budget"].split("<=")[1].split()[0]) * 1e9
    assert len(candidates) == QUICK.candidates and all(c["macs"] <= budget * (1 + 1e-4) for c in candidates)
    for name in ("demo.json", "comparison.png", "search/pareto_macs.png", "search/best_arch.png", "searched_arch.png"):
        assert (out / name).stat().st_size > 0, name
    searched = load_model(out / "finetune_searched" / "checkpoints" / "last.pth")
    assert searched.arch == load_arch(out / "searched_arch.json")
    assert "ViPNAS demo on SynthPose" in capsys.readouterr().out
    # a rerun resumes: finished training runs and evaluated candidates are reused
    assert main(["demo", "--quick", "--out", str(out), "--data-root", str(tmp_path / "data")]) == 0
    again = json.loads((out / "demo.json").read_text())
    assert [r["arch"] for r in again["rows"]] == [r["arch"] for r in summary["rows"]]
    assert again["timings_s"][next(k for k in again["timings_s"] if k.startswith("random search"))] < 5


def test_demo_options_override_the_settings_and_reject_bad_values(monkeypatch, capsys) -> None:
    import vipnas.demo

    seen = {}
    monkeypatch.setattr(vipnas.demo, "run_demo", lambda out, settings, data_root=None: seen.update(s=settings))
    assert main(["demo", "--quick", "--supernet-iters", "7", "--candidates", "3", "--out", "x"]) == 0
    assert (seen["s"].supernet_iters, seen["s"].candidates, seen["s"].input_size) == (7, 3, QUICK.input_size)
    with pytest.raises(SystemExit):
        main(["demo", "--supernet-iters", "0"])
    assert "--supernet-iters: expected a positive whole number, got '0'" in capsys.readouterr().err
