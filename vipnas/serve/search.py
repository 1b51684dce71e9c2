"""The search page's data: search folders, their candidates and Pareto fronts, one candidate's numbers, figure and
``vipnas extract`` command.

A search folder holds ``candidates.json`` (written by :func:`vipnas.nas.report.write_search_outputs` for
``vipnas search`` and the demo, or by ``vipnas allocate``) or only a result ``store.json`` (the video demo's
searches). Candidates are read with :meth:`vipnas.nas.search.Candidate.from_dict` and the fronts computed with
:func:`vipnas.nas.report.pareto_front`, as the search wrote them; a spatial candidate's figure is
:func:`vipnas.nas.report.draw_arch` (per stage, like the paper's Fig. 5), a temporal one's
:func:`vipnas.nas.temporal.plot_allocation` (per frame).
"""

from __future__ import annotations

import json
import os
import shlex
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vipnas.serve.models import SKIPPED_FOLDERS, display_path, path_id

__all__ = ["SearchFolder", "SearchView", "candidate_detail", "discover_searches", "figure_png", "read_search"]

_FIGURES = threading.Lock()  # matplotlib's pyplot is not thread-safe
_DIGESTS: dict[tuple[str, int, float], str] = {}


@dataclass(frozen=True)
class SearchFolder:
    """A folder a search wrote; ``file`` is what it is read from (``candidates.json``, else ``store.json``)."""

    id: str
    label: str
    path: Path
    file: Path

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "label": self.label}


def discover_searches(roots: Sequence[Path]) -> list[SearchFolder]:
    """Every search folder under ``roots`` (missing roots are skipped), in path order."""
    found = []
    for root in roots:
        if not root.is_dir():
            continue
        for folder_text, folders, files in os.walk(root):
            folders[:] = sorted(f for f in folders if not f.startswith(".") and f not in SKIPPED_FOLDERS)
            name = "candidates.json" if "candidates.json" in files else "store.json" if "store.json" in files else None
            if name is not None:
                folder = Path(folder_text)
                found.append(SearchFolder(path_id(folder), display_path(folder), folder, folder / name))
    return found


@dataclass
class SearchView:
    """One search folder read: ``kind`` ``spatial`` or ``temporal``, its candidates in order and its header."""

    folder: SearchFolder
    kind: str
    strategy: str
    objective: str
    budget: str
    candidates: list[Any]
    provenance: dict[str, Any]

    @property
    def input_size(self) -> tuple[int, int]:
        size = (self.provenance.get("budget") or {}).get("input_size")
        return (int(size[0]), int(size[1])) if size else (256, 192)

    @property
    def num_joints(self) -> int:
        return int((self.provenance.get("budget") or {}).get("num_joints") or 17)


def read_search(folder: SearchFolder) -> SearchView:
    """Read a search folder.

    Raises:
        ValueError: the file is not JSON, holds no candidates, or a candidate is malformed (names the file).
    """
    from vipnas.nas.search import Candidate

    try:
        data = json.loads(folder.file.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"{folder.file}: unreadable search file ({error})") from None
    rows = data.get("candidates") if isinstance(data, dict) else None
    if not isinstance(rows, list) or not rows:
        raise ValueError(f"{folder.file}: no 'candidates' list; expected a file written by vipnas search or allocate")
    candidates = [Candidate.from_dict(row, source=f"{folder.file}:candidates[{i}]") for i, row in enumerate(rows)]
    provenance = data.get("provenance") or {}
    if not provenance and (folder.path / "provenance.json").is_file():
        provenance = json.loads((folder.path / "provenance.json").read_text())
    temporal = hasattr(candidates[0].arch, "frames")
    metrics = candidates[0].metrics
    objective = data.get("objective") or ("Total" if temporal and "Total" in metrics else "AP")
    if objective not in metrics:
        objective = sorted(metrics)[0]
    budget = data.get("budget") or _budget_text(provenance.get("budget") or {})
    strategy = data.get("strategy") or ""  # a bare result store does not say
    return SearchView(
        folder, "temporal" if temporal else "spatial", strategy, objective, budget, candidates, provenance
    )


def _budget_text(budget: dict[str, Any]) -> str:
    parts = [f"MACs <= {budget['max_macs'] / 1e9:.6f} G"] if budget.get("max_macs") else []
    if budget.get("max_latency_ms"):
        parts.append(f"latency <= {budget['max_latency_ms']} ms")
    if budget.get("max_params"):
        parts.append(f"params <= {budget['max_params']:.0f}")
    return ", ".join(parts) or "no budget recorded"


def points(view: SearchView) -> dict[str, Any]:
    """Every candidate as a point (index, MACs, params, latency, score) with its Pareto flags, and the header."""
    from vipnas.nas.report import pareto_front

    fronts = {
        cost: {id(c) for c in pareto_front(view.candidates, cost, view.objective)} for cost in ("macs", "latency_ms")
    }
    rows = [
        {"index": i, "macs": c.macs, "params": c.params, "latency_ms": c.latency_ms, "score": c.score(view.objective),
         "pareto_macs": id(c) in fronts["macs"], "pareto_latency": id(c) in fronts["latency_ms"]}
        for i, c in enumerate(view.candidates)
    ]  # fmt: skip
    best = max(range(len(rows)), key=lambda i: rows[i]["score"])
    per = " per frame (average over the key frame and T followers)" if view.kind == "temporal" else ""
    return {"id": view.folder.id, "label": view.folder.label, "kind": view.kind, "strategy": view.strategy,
            "objective": view.objective, "budget": view.budget, "best": best, "candidates": rows,
            "latency": any(r["latency_ms"] is not None for r in rows), "macs_per": per}  # fmt: skip


def _frames(view: SearchView, candidate: Any) -> list[dict[str, Any]]:
    """A temporal candidate's per-frame rows: key frame first, then each T-ViPNet's fusion and MACs."""
    from vipnas.models.complexity import temporal_complexity

    costs = temporal_complexity(candidate.arch, num_joints=view.num_joints, input_size=view.input_size)
    rows = [{"frame": "key", "fusion": None, "op": None, "macs": costs[0].macs, "params": costs[0].params}]
    for index, (frame, cost) in enumerate(zip(candidate.arch.frames, costs[1:], strict=True), start=1):
        rows.append({"frame": f"t{index}", "fusion": f"F{frame.fusion}", "op": frame.op, "macs": cost.macs,
                     "params": cost.params})  # fmt: skip
    return rows


def _candidate(view: SearchView, index: int) -> Any:
    if not 0 <= index < len(view.candidates):
        raise ValueError(f"candidate {index}: {view.folder.label} has candidates 0..{len(view.candidates) - 1}")
    return view.candidates[index]


def candidate_detail(view: SearchView, index: int, checkpoints: Sequence[Path]) -> dict[str, Any]:
    """One candidate's numbers, its arch as text and JSON and, for a spatial search, the ``vipnas extract``
    command that makes it a network (the supernet found by the digest the search recorded)."""
    candidate = _candidate(view, index)
    detail: dict[str, Any] = {
        "index": index, "kind": view.kind, "objective": view.objective, "score": candidate.score(view.objective),
        "macs": candidate.macs, "params": candidate.params, "latency_ms": candidate.latency_ms,
        "metrics": candidate.metrics, "describe": candidate.arch.describe(), "arch": candidate.arch.to_dict(),
    }  # fmt: skip
    if view.kind == "temporal":
        detail["frames"] = _frames(view, candidate)
        detail["command"] = None
        detail["note"] = (
            "vipnas extract makes S-ViPNets; the T-ViPNets of a temporal arch are extracted by vipnas demo --video "
            "(its t_vipnas/ folder, which vipnas video --temporal and this page run)"
        )
        return detail
    supernet = find_supernet(view, checkpoints)
    detail["supernet"] = display_path(supernet) if supernet is not None else None
    detail["command"] = extract_command(view, index, supernet)
    if supernet is None:
        detail["note"] = (
            f"no supernet with the search's digest {view.provenance.get('checkpoint', '(none recorded)')} found"
        )
    return detail


def extract_command(view: SearchView, index: int, supernet: Path | None) -> str:
    """The shell command that extracts candidate ``index``: its arch written to a file (unless it is the folder's
    ``best_arch.json``), then ``vipnas extract``."""
    candidate = _candidate(view, index)
    source = shlex.quote(display_path(supernet)) if supernet is not None else "SUPERNET.pth"
    best = view.folder.path / "best_arch.json"
    if best.is_file():
        from vipnas.space.arch import load_arch

        if load_arch(best) == candidate.arch:
            return f"vipnas extract {source} --arch {shlex.quote(display_path(best))} --out searched.pth"
    name = f"candidate_{index}_arch.json"
    text = json.dumps(candidate.arch.to_dict(), separators=(",", ":"))
    return f"cat > {name} <<'EOF'\n{text}\nEOF\nvipnas extract {source} --arch {name} --out candidate_{index}.pth"


def find_supernet(view: SearchView, checkpoints: Sequence[Path]) -> Path | None:
    """The checkpoint whose digest the search recorded: those beside the search folder first, then the shipped
    supernet, then the rest; None when none matches (digests are cached by path, size and modification time)."""
    from vipnas.data.files import file_digest
    from vipnas.serve.models import PRETRAINED_SUPERNET

    wanted = view.provenance.get("checkpoint")
    if not wanted:
        return None
    near = view.folder.path.parent.resolve()
    beside = [path for path in checkpoints if path.resolve().is_relative_to(near)]
    rest = [path for path in checkpoints if path not in beside]
    for path in [*beside, PRETRAINED_SUPERNET, *rest]:
        try:
            stat = path.stat()
        except OSError:
            continue
        key = (str(path.resolve()), stat.st_size, stat.st_mtime)
        if key not in _DIGESTS:
            _DIGESTS[key] = file_digest(path)
        if _DIGESTS[key] == wanted:
            return path
    return None


def figure_png(view: SearchView, index: int, folder: Path) -> bytes:
    """The candidate's figure as PNG bytes: per stage for a spatial arch, per frame for a temporal one (drawn in a
    temporary file under ``folder``, removed at once)."""
    from vipnas.nas.report import draw_arch

    candidate = _candidate(view, index)
    folder.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(suffix=".png", dir=folder)
    os.close(handle)
    path = Path(name)
    try:
        with _FIGURES:
            if view.kind == "temporal":
                from vipnas.nas.temporal import plot_allocation

                macs = tuple(row["macs"] for row in _frames(view, candidate))
                plot_allocation(candidate.arch, macs, path)
            else:
                cost = f"{candidate.macs / 1e9:.4f} G MACs" + (
                    f", {candidate.latency_ms:.2f} ms" if candidate.latency_ms else ""
                )
                title = f"candidate {index}: {view.objective} {candidate.score(view.objective):.3f}, {cost}"
                draw_arch(candidate.arch, path, title)
        return path.read_bytes()
    finally:
        path.unlink(missing_ok=True)
