"""`vipnas demo`: the whole pipeline runs, respects its budget, writes its outputs, reports on a test split it never
searched on, resumes, and never reuses a stage made with other settings; the shipped supernet is used only when
it matches."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from vipnas.cli import main
from vipnas.demo import FULL, PRETRAINED, QUICK, file_digest, pretrained_supernet, run_demo, stage_dir
from vipnas.models.checkpoint import load_model
from vipnas.space.arch import load_arch


def _only(folder, pattern):
    matches = sorted(folder.glob(pattern))
    assert len(matches) == 1, (pattern, matches)
    return matches[0]


def test_quick_demo_end_to_end_resume_and_no_stale_stages(tmp_path, capsys) -> None:
    out, data = tmp_path / "demo", tmp_path / "data"
    summary = run_demo(out, QUICK, data_root=data)
    rows = {row["network"]: row for row in summary["rows"]}
    assert set(rows) == {"mean pose", "largest", "smallest", "baseline", "searched"}
    assert rows["smallest"]["macs"] < rows["searched"]["macs"] < rows["largest"]["macs"]
    assert abs(rows["baseline"]["macs"] - rows["searched"]["macs"]) <= 0.03 * rows["searched"]["macs"] or (
        rows["baseline"]["macs"] <= rows["searched"]["macs"]
    )
    assert all(0.0 <= row["AP_supernet"] <= 1.0 for row in rows.values())
    assert all(rows[name]["latency_ms"] > 0 for name in ("largest", "smallest", "baseline", "searched"))
    assert "AP_finetuned" in rows["searched"] and "AP_finetuned" in rows["baseline"]
    # the final table reads the test split, which the search never saw
    manifest = json.loads((data / "manifest.json").read_text())
    assert manifest["images"]["test"] == 20 and manifest["level"] == QUICK.level
    assert f"the {manifest['images']['test']} images of the SynthPose {QUICK.level} test split" in summary["evaluation"]
    search = _only(out, "search-*")
    candidates = json.loads((search / "candidates.json").read_text())["candidates"]
    budget = float(summary["budget"].split("<=")[1].split()[0]) * 1e9
    assert len(candidates) == QUICK.candidates and all(c["macs"] <= budget * (1 + 1e-4) for c in candidates)
    searched_dir = _only(out, "finetune_searched-*")
    for path in (out / "demo.json", out / "comparison.png", out / "table.txt", search / "pareto_macs.png",
                 searched_dir / "arch.png"):  # fmt: skip
        assert path.stat().st_size > 0, path
    searched = load_model(searched_dir / "train" / "checkpoints" / "last.pth")
    assert searched.arch == load_arch(searched_dir / "arch.json")
    assert searched.metadata.codec == QUICK.codec
    printed = capsys.readouterr().out
    assert "ViPNAS demo on SynthPose" in printed and "mean pose" in printed
    supernet = _only(out, "supernet-*")
    before = (supernet / "checkpoints" / "last.pth").read_bytes()

    # a rerun resumes: finished training runs and evaluated candidates are reused
    assert main(["demo", "--quick", "--out", str(out), "--data-root", str(data)]) == 0
    again = json.loads((out / "demo.json").read_text())
    assert [r["arch"] for r in again["rows"]] == [r["arch"] for r in summary["rows"]]
    assert again["timings_s"][next(k for k in again["timings_s"] if k.startswith("random search"))] < 5

    # other settings never reuse (nor overwrite) what the first run made: every downstream stage is new
    assert main(["demo", "--quick", "--out", str(out), "--data-root", str(data), "--supernet-iters", "12"]) == 0
    assert len(list(out.glob("supernet-*"))) == 2 and len(list(out.glob("search-*"))) == 2
    assert len(list(out.glob("finetune_searched-*"))) == 2
    assert (supernet / "checkpoints" / "last.pth").read_bytes() == before


def test_a_stage_folder_refuses_other_provenance(tmp_path) -> None:
    folder = stage_dir(tmp_path, "stage", {"a": 1})
    assert stage_dir(tmp_path, "stage", {"a": 1}) == folder
    (folder / "provenance.json").write_text(json.dumps({"a": 2}))  # as if written by something else
    with pytest.raises(ValueError, match="was made by other settings \\(a differ\\)"):
        stage_dir(tmp_path, "stage", {"a": 1})


def test_the_shipped_supernet_is_used_only_when_it_matches() -> None:
    assert pretrained_supernet(replace(FULL, level="hard")) is None  # trained on another level
    assert pretrained_supernet(replace(FULL, input_size=(256, 192))) is None
    assert pretrained_supernet(replace(FULL, pretrained=False)) is None
    if not PRETRAINED.is_file():
        pytest.skip("no pretrained supernet in this checkout")
    assert pretrained_supernet(FULL) == PRETRAINED
    sidecar = json.loads(PRETRAINED.with_suffix(".json").read_text())
    assert sidecar["sha256"] == file_digest(PRETRAINED)  # the figures beside it are this file's
    assert sidecar["command"].startswith("python benchmarks/pretrain_supernet.py")
    supernet = load_model(PRETRAINED)
    assert supernet.space.name == "mobilenetv3_tiny" and supernet.metadata.codec == FULL.codec
    assert tuple(supernet.metadata.input_size) in (FULL.input_size, FULL.input_size[::-1])


def test_demo_options_override_the_settings_and_reject_bad_values(monkeypatch, capsys) -> None:
    import vipnas.demo

    seen = {}
    monkeypatch.setattr(vipnas.demo, "run_demo", lambda out, settings, data_root=None: seen.update(s=settings))
    assert main(["demo", "--quick", "--supernet-iters", "7", "--candidates", "3", "--out", "x"]) == 0
    assert (seen["s"].supernet_iters, seen["s"].candidates, seen["s"].input_size) == (7, 3, QUICK.input_size)
    assert main(["demo", "--from-scratch", "--seed", "2", "--level", "medium", "--out", "x"]) == 0
    assert (seen["s"].pretrained, seen["s"].seed, seen["s"].level) == (False, 2, "medium")
    assert main(["demo", "--long", "--out", "x"]) == 0
    assert seen["s"].level == "medium" and not seen["s"].pretrained
    with pytest.raises(SystemExit):
        main(["demo", "--supernet-iters", "0"])
    assert "--supernet-iters: expected a positive whole number, got '0'" in capsys.readouterr().err
