"""Search outputs: every candidate as JSON, Pareto fronts (AP vs MACs, AP vs latency) as JSON and PNG, the
winning arch as JSON and as a per-stage figure (like the paper's Fig. 5)."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vipnas.nas.search import Candidate, SearchResult
from vipnas.permissions import new_file_mode
from vipnas.space.arch import Arch

__all__ = ["draw_arch", "pareto_front", "write_json", "write_search_outputs"]


def write_json(data: Any, path: str | Path) -> Path:
    """Write JSON atomically (temp file + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    with os.fdopen(handle, "w") as stream:
        json.dump(data, stream, indent=2)
        stream.write("\n")
    os.chmod(tmp, new_file_mode())  # mkstemp creates 0600
    os.replace(tmp, path)
    return path


def pareto_front(candidates: Sequence[Candidate], cost: str, objective: str = "AP") -> list[Candidate]:
    """Candidates no other candidate beats on both ``cost`` (lower is better: ``macs``, ``params``,
    ``latency_ms``) and ``objective`` (higher is better), sorted by cost."""
    usable = [c for c in candidates if getattr(c, cost) is not None]
    front: list[Candidate] = []
    best = float("-inf")
    for candidate in sorted(usable, key=lambda c: (getattr(c, cost), -c.score(objective))):
        if candidate.score(objective) > best:
            front.append(candidate)
            best = candidate.score(objective)
    return front


def _plot_front(
    candidates: Sequence[Candidate],
    front: Sequence[Candidate],
    cost: str,
    objective: str,
    path: Path,
    title: str,
    highlight: Candidate | None,
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scale, label = {
        "macs": (1e-9, "G MACs"),
        "latency_ms": (1.0, "predicted latency (ms)"),
        "params": (1e-6, "M params"),
    }[cost]
    figure, axes = plt.subplots(figsize=(6.4, 4.4), dpi=120)
    xs = [getattr(c, cost) * scale for c in candidates if getattr(c, cost) is not None]
    ys = [c.score(objective) for c in candidates if getattr(c, cost) is not None]
    axes.scatter(xs, ys, s=12, alpha=0.45, color="tab:gray", label=f"candidates ({len(xs)})")
    axes.plot(
        [getattr(c, cost) * scale for c in front],
        [c.score(objective) for c in front],
        "o-",
        color="tab:red",
        markersize=4,
        label=f"Pareto front ({len(front)})",
    )
    if highlight is not None and getattr(highlight, cost) is not None:
        axes.scatter(
            [getattr(highlight, cost) * scale],
            [highlight.score(objective)],
            s=120,
            marker="*",
            color="tab:blue",
            zorder=5,
            label="selected",
        )
    axes.set_xlabel(label)
    axes.set_ylabel(objective)
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right", fontsize=8)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def draw_arch(arch: Arch, path: str | Path, title: str = "") -> Path:
    """Per-stage figure of an arch: depth, width, kernel size, group number (channels per group) and attention."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from vipnas.space.family import FAMILY_SPECS

    spec = FAMILY_SPECS[arch.family]
    names = [f"S{i + 1}" for i in range(len(arch.stages))] + ["head"]
    depth = [s.depth for s in arch.stages] + [spec.head_layers]
    width = [spec.output_channels(s) for s in arch.stages] + [arch.head.width]
    kernel = [s.kernel_size for s in arch.stages] + [arch.head.kernel_size]
    groups = [s.groups for s in arch.stages] + [arch.head.groups]
    per_group = [spec.middle_channels(s) // s.groups for s in arch.stages] + [arch.head.width // arch.head.groups]
    attention = [1 if s.attention else 0 for s in arch.stages] + [0]
    expansion = [s.expand_ratio for s in arch.stages] + [0]
    panels = [
        ("depth (blocks)", depth),
        ("output width", width),
        ("kernel size", kernel),
        ("groups (channels/group)", groups),
        ("attention", attention),
    ]
    if arch.family != "resnet":
        panels.insert(4, ("expansion ratio", expansion))
    figure, axes = plt.subplots(1, len(panels), figsize=(3.0 * len(panels), 3.0), dpi=120)
    colors = ["tab:blue", "tab:orange", "tab:green", "tab:purple", "tab:brown", "tab:red"]
    for ax, (label, values), color in zip(axes, panels, [*colors[: len(panels) - 1], "tab:red"], strict=True):
        bars = ax.bar(names, values, color=color, alpha=0.8)
        ax.set_ylim(0, max(max(values), 1) * 1.3)
        ax.set_title(label, fontsize=10)
        ax.tick_params(axis="x", labelsize=8)
        texts = (
            [f"{g}\n({c})" for g, c in zip(groups, per_group, strict=True)] if label.startswith("groups") else values
        )
        if label == "attention":
            ax.set_ylim(0, 1.3)
            ax.set_yticks([0, 1], ["off", "GC" if arch.family == "resnet" else "SE"])
            texts = ["on" if v else "" for v in values]
        for bar, text in zip(bars, texts, strict=True):
            ax.annotate(
                str(text), (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center", va="bottom", fontsize=7
            )
    figure.suptitle(title or f"{arch.family} arch (stem width {arch.stem.width}, kernel {arch.stem.kernel_size})")
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return path


def write_search_outputs(
    out_dir: str | Path,
    result: SearchResult,
    *,
    all_candidates: Sequence[Candidate] | None = None,
    selected: Candidate | None = None,
) -> dict[str, Path]:
    """Write ``candidates.json``, ``pareto_macs.json``/``.png``, ``pareto_latency.json``/``.png`` (when latencies
    exist), ``best_arch.json`` and ``best_arch.png`` into ``out_dir``; returns the paths by name."""
    out = Path(out_dir)
    candidates = list(all_candidates) if all_candidates is not None else result.candidates
    best = selected or result.best
    objective = result.objective
    paths: dict[str, Path] = {}

    def rows(items: Sequence[Candidate]) -> list[dict[str, Any]]:
        return [{**c.to_dict(), objective: c.score(objective)} for c in items]

    header = {"strategy": result.strategy, "objective": objective, "budget": result.budget}
    paths["candidates"] = write_json({**header, "candidates": rows(candidates)}, out / "candidates.json")
    for cost, name in (("macs", "pareto_macs"), ("latency_ms", "pareto_latency")):
        front = pareto_front(candidates, cost, objective)
        if not front:
            continue
        paths[name] = write_json({**header, "cost": cost, "front": rows(front)}, out / f"{name}.json")
        title = f"{result.strategy} search: {objective} vs {'MACs' if cost == 'macs' else 'latency'}"
        _plot_front(candidates, front, cost, objective, out / f"{name}.png", title, best)
        paths[f"{name}_png"] = out / f"{name}.png"
    paths["best_arch"] = write_json(
        {**header, **best.to_dict(), objective: best.score(objective)}, out / "best_arch.json"
    )
    cost_text = f"{best.macs / 1e9:.3f} G MACs" + (f", {best.latency_ms:.1f} ms" if best.latency_ms else "")
    paths["best_arch_png"] = draw_arch(
        best.arch, out / "best_arch.png", f"searched arch: {objective} {best.score(objective):.3f}, {cost_text}"
    )
    return paths
