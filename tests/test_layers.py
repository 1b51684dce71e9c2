"""The package's layers import one way: a test that fails when a lower layer imports a higher one.

Every ``import`` of every module counts, also those inside functions (lazy imports are how import cycles hide).
A package may import itself, and packages of lower layers only; packages of the same layer stay independent.
"""

from __future__ import annotations

import ast
from pathlib import Path

import vipnas

PACKAGE = Path(vipnas.__file__).resolve().parent

# lowest first; a name is a subpackage or a top-level module of vipnas ("" = the package facade, vipnas/__init__)
LAYERS = (
    {"permissions", "version"},
    {"space", "codec"},  # archs as data; heatmap codecs (numpy)
    {"nn", "data"},  # plain torch blocks; datasets and SynthPose
    {"elastic", "config", "evaluation"},  # supernet operators; typed configs; metrics
    {"models"},  # networks, supernets, registry, checkpoints, export
    {"engine"},  # training
    {"nas", "runtime"},  # search; the online video runtime (which imports no elastic operator)
    {"deploy"},  # exported networks per runtime and precision (runs them through the runtime's backends)
    {"demo", "serve"},  # the demos; the local web app (jobs through the runtime, search folders through nas)
    {"commands"},
    {"cli"},
    {"__main__", ""},
)
LAYER_OF = {name: index for index, names in enumerate(LAYERS) for name in names}


def _owner(module: str) -> str | None:
    """``vipnas.models.pose`` -> ``models``; ``vipnas`` -> ``""``; other packages -> None."""
    parts = module.split(".")
    if parts[0] != "vipnas":
        return None
    return parts[1] if len(parts) > 1 else ""


def _imports() -> list[tuple[str, str, int, str]]:
    """(importing owner, imported owner, line, file) for every vipnas import in the package."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE.parent).with_suffix("")
        parts = list(relative.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        owner = _owner(".".join(parts))
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            for name in names:
                target = _owner(name)
                if target is not None and target != owner:
                    found.append((owner, target, node.lineno, str(path.relative_to(PACKAGE.parent))))
    return found


def test_every_package_has_a_layer() -> None:
    owners = {owner for owner, *_ in _imports()} | {target for _, target, *_ in _imports()}
    present = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir() if p.suffix == ".py" or p.is_dir()}
    present = {name for name in present if name not in ("__init__", "__pycache__", "configs", "pretrained")}
    assert owners - set(LAYER_OF) == set() and present - set(LAYER_OF) == set(), "add new packages to LAYERS"


def test_no_layer_imports_a_higher_or_sibling_layer() -> None:
    wrong = [
        f"{where}:{line}: {owner or 'vipnas'} (layer {LAYER_OF[owner]}) imports {target or 'vipnas'} "
        f"(layer {LAYER_OF[target]})"
        for owner, target, line, where in _imports()
        if LAYER_OF[target] >= LAYER_OF[owner]
    ]
    assert not wrong, "\n".join(wrong)


def test_the_check_sees_lazy_imports() -> None:
    """The elastic operators once imported vipnas.models inside a function; such an import must count."""
    tree = ast.parse("def f():\n    from vipnas.models.pose import build_static\n")
    node = next(n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom))
    assert _owner(node.module) == "models" and LAYER_OF["models"] > LAYER_OF["elastic"]
