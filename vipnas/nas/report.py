"""Search outputs: every candidate as JSON, Pareto fronts (AP vs MACs, AP vs latency) as JSON and PNG, the
winning arch as JSON and as a per-stage figure (like the paper's Fig. 5; an HRNet arch as a grid of stages by
branches)."""

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
from vipnas.space.hrnet import BOTTLENECK_EXPANSION, HRNetArch

__all__ = ["draw_arch", "draw_hrnet_arch", "pareto_front", "write_json", "write_search_outputs"]


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


def draw_arch(arch: Arch | HRNetArch, path: str | Path, title: str = "") -> Path:
    """Per-stage figure of an arch: depth, width, kernel size, group number (channels per group) and attention (an
    HRNet arch: :func:`draw_hrnet_arch`)."""
    if isinstance(arch, HRNetArch):
        return draw_hrnet_arch(arch, path, title)
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


def draw_hrnet_arch(arch: HRNetArch, path: str | Path, title: str = "") -> Path:
    """An HRNet arch as a grid: one column per stage (with its modules and blocks; the stem and the head beside),
    one row per branch (resolution 1/4 .. 1/32). Each cell gives the branch's width, group number (channels per
    group), kernel size and SE attention (a red frame); its shade grows with the width. Arrows show where a stage's
    branches come from: the same branch, or (the new one) the lowest-resolution branch of the stage before."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import cm, colors
    from matplotlib.patches import FancyBboxPatch

    stages, rows = len(arch.stages), len(arch.stages[-1].branches)
    columns = stages + 2  # stem, the stages, head
    cell_w, cell_h, gap_x, gap_y = 1.0, 0.62, 0.45, 0.22
    figure, axes = plt.subplots(figsize=(2.2 * columns, 1.1 * rows + 1.0), dpi=120)
    shade = colors.LogNorm(vmin=4, vmax=512)  # 4 .. 512 channels, light to dark
    ramp = colors.ListedColormap(matplotlib.colormaps["Blues"]([0.15 + 0.6 * i / 255 for i in range(256)]))

    def corner(column: int, row: int) -> tuple[float, float]:
        return column * (cell_w + gap_x), -row * (cell_h + gap_y)

    def cell(column: int, row: int, text: str, channels: int, attention: bool = False) -> None:
        x, y = corner(column, row)
        face = ramp(float(shade(channels)))
        box = FancyBboxPatch(
            (x, y - cell_h), cell_w, cell_h, boxstyle="round,pad=0.02", facecolor=face,
            edgecolor="tab:red" if attention else "0.35", linewidth=2.2 if attention else 0.8,
        )  # fmt: skip
        axes.add_patch(box)
        dark = float(shade(channels)) > 0.55
        axes.text(x + cell_w / 2, y - cell_h / 2, text, ha="center", va="center", fontsize=7,
                  color="white" if dark else "black")  # fmt: skip

    def arrow(start: tuple[int, int], end: tuple[int, int]) -> None:
        (x0, y0), (x1, y1) = corner(*start), corner(*end)
        axes.annotate(
            "", xy=(x1, y1 - cell_h / 2), xytext=(x0 + cell_w, y0 - cell_h / 2),
            arrowprops={"arrowstyle": "->", "color": "0.4", "linewidth": 0.9},
        )  # fmt: skip

    def header(column: int, text: str) -> None:
        x, _ = corner(column, 0)
        axes.text(x + cell_w / 2, cell_h * 0.35, text, ha="center", va="bottom", fontsize=8.5, fontweight="bold")

    header(0, "stem")
    cell(0, 0, f"{arch.stem_width} ch\n2 x conv 3x3 s2", arch.stem_width)
    for index, stage in enumerate(arch.stages):
        column = index + 1
        if index == 0:
            header(column, f"stage 1\n{stage.depth} Bottleneck{'s' if stage.depth > 1 else ''}")
        else:
            modules = "module" if stage.depth == 1 else "modules"
            header(column, f"stage {column}\n{stage.depth} {modules} x {stage.blocks} block{'s' * (stage.blocks > 1)}")
        for row, branch in enumerate(stage.branches):
            per_group = branch.width // branch.groups
            width = (
                f"{branch.width} -> {BOTTLENECK_EXPANSION * branch.width} ch" if index == 0 else f"{branch.width} ch"
            )
            text = (
                f"{width}\ngroups {branch.groups} ({per_group}/group)\n"
                f"kernel {branch.kernel_size}{'   SE' if branch.attention else ''}"
            )
            cell(column, row, text, arch.stage_out_channels(index)[row], branch.attention)
            arrow((column - 1, row if row < len(stage.branches) - 1 or index == 0 else row - 1), (column, row))
    header(columns - 1, "head")
    cell(columns - 1, 0, f"1x1 conv\nfrom {arch.out_channels} ch", arch.out_channels)
    arrow((columns - 2, 0), (columns - 1, 0))
    for row in range(rows):
        _, y = corner(0, row)
        axes.text(-0.12, y - cell_h / 2, f"1/{4 * 2**row}", ha="right", va="center", fontsize=8, color="0.3")
    axes.set_xlim(-0.5, columns * (cell_w + gap_x) - gap_x + 0.1)
    axes.set_ylim(-rows * (cell_h + gap_y) + gap_y - 0.2, cell_h * 1.0)
    axes.set_aspect("auto")
    axes.axis("off")
    bar = figure.colorbar(
        cm.ScalarMappable(norm=shade, cmap=ramp), ax=axes, fraction=0.025, pad=0.01, ticks=[4, 16, 64, 256]
    )
    bar.ax.set_yticklabels(["4", "16", "64", "256"])
    bar.set_label("output channels", fontsize=8)
    bar.ax.tick_params(labelsize=7)
    axes.set_title(title or f"hrnet arch (stem width {arch.stem_width})", fontsize=10, pad=4)
    axes.text(0, -rows * (cell_h + gap_y) + gap_y - 0.05, "red frame: SE attention", fontsize=7, color="tab:red",
              va="top")  # fmt: skip
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, bbox_inches="tight")
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
