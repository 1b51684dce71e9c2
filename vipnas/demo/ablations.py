"""The paper's temporal ablations (§4.5) on SynthPose videos, each a table, a JSON and a figure.

- ``table3`` — T-ViPNAS against S-ViPNAS searched under the same per-frame average MACs (the S-ViPNet applied to
  every frame independently), with the key network on every frame for reference (Table 3);
- ``fig6a`` — the T-ViPNAS found at each budget against the same archs without temporal fusion, taken from the
  supernet trained on single images for as many steps (Fig. 6a);
- ``fig6b`` — per-frame allocation against one spatial and temporal choice shared by every non-key frame, searched
  under the same budgets (Fig. 6b);
- ``table4`` — T = 2, 3, 4 searched under the same average budget from the one T-supernet trained at T = 3
  (Table 4).

Every figure is measured on the test videos, which neither training nor any search read; the searches score
candidates on the validation videos. PoseTrack mAP (vipnas's poseval ``Total``) over all frames is the video's
figure (``mAP all``); over the non-key frames (``mAP non-key``) is what the allocation optimises.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vipnas.config import TEMPORAL_ABLATIONS

__all__ = ["ABLATIONS", "run_ablation"]

ABLATIONS = TEMPORAL_ABLATIONS


def _row(name: str, macs: float, params: int, test: dict[str, float], val: float | None, arch: Any) -> dict:
    return {
        "network": name,
        "macs_per_frame": round(macs),
        "params": int(params),
        "mAP_all": test["Total_all"],
        "mAP_nonkey": test["Total"],
        "mAP_val_search": val,
        "arch": arch.to_dict() if arch is not None else None,
    }


def _format(title: str, rows: list[dict], note: str) -> str:
    lines = [
        title,
        f"{'network':34s} {'M MACs/frame':>12s} {'k params':>9s} {'mAP all':>8s} {'mAP non-key':>11s} {'val':>7s}",
    ]
    for row in rows:
        val = f"{row['mAP_val_search']:7.2f}" if row["mAP_val_search"] is not None else f"{'-':>7s}"
        lines.append(
            f"{row['network']:34s} {row['macs_per_frame'] / 1e6:12.2f} {row['params'] / 1e3:9.1f} "
            f"{row['mAP_all']:8.2f} {row['mAP_nonkey']:11.2f} {val}"
        )
    lines.append(f"({note})")
    return "\n".join(lines)


def _candidates(run: Any, fraction: float) -> int:
    main = run.settings.budget_fractions[0]
    return run.settings.candidates if fraction == main else run.settings.ablation_candidates


def _temporal_row(run: Any, name: str, result: Any) -> dict:
    best = result.best
    return _row(name, best.macs, best.params, run.test_temporal(best.arch), best.score("Total"), best.arch)


def table3(run: Any) -> dict:
    from vipnas.models.complexity import arch_complexity
    from vipnas.nas.temporal import SingleFrame

    fraction = run.settings.budget_fractions[0]
    length = run.settings.length
    key = run.key_network
    cost = arch_complexity(key.arch, input_size=key.metadata.input_size)
    on_every_frame = run.clips("test").evaluate_networks([SingleFrame(key)] * length, key=key)
    rows = [_row("S-ViPNet (key) on every frame", cost.macs, cost.params, on_every_frame, None, None)]
    spatial = run.s_vipnas(fraction)
    best = spatial.best
    test = run.frame_by_frame("test")(best.arch)
    rows.append(_row("S-ViPNAS on every frame", best.macs, best.params, test, best.score("Total_all"), best.arch))
    temporal = run.t_vipnas(fraction)
    rows.append(_temporal_row(run, f"T-ViPNAS (T={length})", temporal))
    return {
        "rows": rows,
        "budget": temporal.budget,
        "best_temporal_arch": temporal.best.arch.to_dict(),
        "best_spatial_arch": best.arch.to_dict(),
        "note": f"budget {temporal.budget}; {run.settings.candidates} random candidates per search; S-ViPNAS from the "
        "supernet trained on single frames as long as the T-supernet trained on clips",
    }


def fig6a(run: Any) -> dict:
    rows = []
    for fraction in sorted(run.settings.budget_fractions):
        result = run.t_vipnas(fraction, candidates=_candidates(run, fraction))
        best = result.best
        rows.append(_temporal_row(run, f"T-ViPNAS (<= {run.temporal_budget(fraction).max_macs / 1e6:.2f} M)", result))
        test = run.frame_by_frame("test").without_fusion(best.arch)
        rows.append(_row("  same archs, no fusion", best.macs, best.params, test, None, best.arch))
    return {"rows": rows, "note": "no fusion: the key network, then each frame's spatial arch from the supernet "
            "trained on single frames (as long as the T-supernet), BN recalibrated"}  # fmt: skip


def fig6b(run: Any) -> dict:
    rows = []
    for fraction in sorted(run.settings.budget_fractions):
        count = _candidates(run, fraction)
        result = run.t_vipnas(fraction, candidates=count)
        rows.append(_temporal_row(run, f"T-ViPNAS (<= {run.temporal_budget(fraction).max_macs / 1e6:.2f} M)", result))
        shared = run.t_vipnas(fraction, shared=True, candidates=count)
        rows.append(_temporal_row(run, "  one choice for every frame", shared))
    return {"rows": rows, "note": "both searches draw the same number of random candidates under each budget"}


def table4(run: Any) -> dict:
    fraction = run.settings.budget_fractions[0]
    rows = []
    for length in run.settings.lengths:
        result = run.t_vipnas(fraction, length=length)
        rows.append(_temporal_row(run, f"T-ViPNAS T={length}", result))
    return {"rows": rows, "note": f"one T-supernet trained at T={run.settings.length}; each T searched under the "
            f"same per-frame average budget, tested on clips of T+1 frames"}  # fmt: skip


TITLES = {
    "table3": "Table 3: T-ViPNAS vs S-ViPNAS at the same average MACs per frame",
    "fig6a": "Fig. 6a: temporal fusion vs the same archs without fusion",
    "fig6b": "Fig. 6b: per-frame computation allocation vs one shared choice",
    "table4": "Table 4: the number of propagated frames T",
}


def run_ablation(run: Any, name: str) -> dict:
    """Run ablation ``name`` of :data:`ABLATIONS` on ``run`` (a :class:`vipnas.demo.video.VideoRun`); writes
    ``ablations/<name>.txt``, ``.json`` and ``.png`` under its folder and returns the JSON (with ``table``)."""
    from vipnas.data.files import write_json_atomic

    if name not in ABLATIONS:
        raise ValueError(f"unknown ablation {name!r}; choose one of {', '.join(ABLATIONS)}")
    result = globals()[name](run)
    title = f"{TITLES[name]} (SynthPose {run.settings.level} test videos, seed {run.settings.seed})"
    result["table"] = _format(title, result["rows"], result["note"])
    folder = run.out / "ablations"
    folder.mkdir(parents=True, exist_ok=True)
    write_json_atomic(folder / f"{name}.json", result)
    (folder / f"{name}.txt").write_text(result["table"] + "\n")
    _plot(name, result["rows"], folder / f"{name}.png", TITLES[name])
    print(result["table"], flush=True)
    return result


def _plot(name: str, rows: list[dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6.4, 4.0), dpi=110)
    if name in ("fig6a", "fig6b"):
        ours = [row for row in rows if not row["network"].startswith("  ")]
        base = [row for row in rows if row["network"].startswith("  ")]
        for points, colour, label in ((ours, "tab:red", "T-ViPNAS"), (base, "tab:blue", base[0]["network"].strip())):
            points = sorted(points, key=lambda r: r["macs_per_frame"])  # a curve over the complexity levels
            axis.plot([r["macs_per_frame"] / 1e6 for r in points], [r["mAP_all"] for r in points], "o-",
                      color=colour, label=label)  # fmt: skip
        axis.set_xlabel("M MACs per frame (average over the T+1 frames)")
        axis.legend(fontsize=8)
    else:
        labels = [row["network"].replace(" on every frame", "\nevery frame") for row in rows]
        bars = axis.bar(range(len(rows)), [row["mAP_all"] for row in rows], color="tab:gray")
        for bar, row in zip(bars, rows, strict=True):
            axis.annotate(f"{row['macs_per_frame'] / 1e6:.2f} M", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                          ha="center", va="bottom", fontsize=7)  # fmt: skip
        axis.set_xticks(range(len(rows)), labels, fontsize=7)
    axis.set_ylabel("PoseTrack mAP, all frames (test videos)")
    axis.set_title(title, fontsize=9)
    axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
