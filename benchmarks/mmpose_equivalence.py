"""Check our static networks against the real MMPose modules, in both directions.

For ``s_vipnas_res50``, ``s_vipnas_mbv3`` and ``sbl_res50`` and several seeds this script

1. builds MMPose's own backbone + head (``ViPNAS_ResNet(depth=50)`` + ``ViPNASHead(608, 17)``,
   ``ViPNAS_MobileNetV3()`` + ``ViPNASHead(160, 17, (160,)*3, groups (160,)*3)``, ``ResNet(50)`` +
   ``HeatmapHead(2048, 17)``), randomises every weight and BN/LN statistic, saves it as an MMPose 1.x checkpoint
   (``backbone.*`` / ``head.*``) and as a 0.x one (``keypoint_head.*``), loads both with our
   ``convert_mmpose_checkpoint`` and compares heatmaps on random inputs;
2. randomises *our* model, converts its state dict with ``to_mmpose_keys``, loads it into MMPose with
   ``load_state_dict(strict=True)`` and compares heatmaps again;
3. compares key sets, tensor shapes and parameter counts;
4. measures parameters and multiply-accumulates (MACs) on MMPose's own backbone + head, for one (1, 3, 256, 192)
   input, with forward hooks on MMPose's modules, and compares them with ``vipnas``'s analytic count
   (``arch_complexity``), with ``vipnas``'s own hook count (``measure_complexity``) and with the figures that
   ``tests/models/test_complexity.py`` asserts (``MMPOSE_COUNTS``); the MMPose hook count is cross-checked
   with torch's hook-free ``torch.utils.flop_counter.FlopCounterMode`` (FLOPs / 2).

MAC convention (the one of ``vipnas.models.complexity``): multiply-accumulates of every executed
``nn.Conv2d`` (``output.numel() * in_channels/groups * kh*kw``) and ``nn.ConvTranspose2d``
(``input.numel() * out_channels/groups * kh*kw``), plus, for each of mmcv's ``ContextBlock`` (GC attention,
``pooling_type='att'``), the attention-pooling matmul, ``input.numel()`` = C*H*W (its 1x1 convs are counted as
convs).  Normalisation, activations, pooling, sigmoid/softmax, element-wise products and sums and biases are not
counted.

It prints a table (and the measured ``MMPOSE_COUNTS``) and exits 1 on any mismatch (heatmaps: relative max-abs
difference above ``--rtol``; counts: any difference), 2 when MMPose cannot be imported.  Nothing in the ``vipnas``
package depends on MMPose; this script needs its own virtualenv, kept outside the repository (see
docs/mmpose_equivalence.md for the exact versions that were used)::

    python3 -m venv /tmp/mmvenv && . /tmp/mmvenv/bin/activate
    pip install torch==2.13.0            # CPU build; pin it so pip does not pull a CUDA build
    pip install mmengine==0.10.7 mmcv-lite==2.2.0 six scipy munkres json_tricks
    pip install --no-deps mmpose==1.3.2  # its requirements pull xtcocotools, which is broken on numpy 2
    python benchmarks/mmpose_equivalence.py

MMPose's ``mmpose.models`` package imports every head and dataset at import time; three of those imports need
software that the backbones and heads checked here never use (``xtcocotools``, ``mmdet`` for the RTMO head,
mmcv's compiled ``mmcv.ops`` for the transformer heads).  When one of them is not installed it is replaced by an
empty stub module *before* MMPose is imported; the modules under test (``ViPNAS_ResNet``, ``ViPNAS_MobileNetV3``,
``ResNet``, ``ViPNASHead``, ``HeatmapHead``, mmcv's ``ContextBlock``/``ConvModule``/``HSigmoid``) are the
real, unmodified ones.  The stubs in use are listed in the output.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import platform
import sys
import tempfile
import types
import warnings
from pathlib import Path

import torch
from torch import nn

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

NAMES = ("s_vipnas_res50", "s_vipnas_mbv3", "sbl_res50")
MMPOSE_PARAM_COUNTS = {"s_vipnas_res50": 7_286_772, "s_vipnas_mbv3": 5_895_725, "sbl_res50": 33_999_697}
STUBBABLE = ("xtcocotools", "mmdet", "mmcv.ops")
INPUT_SIZE = (256, 192)  # (height, width) of the single input the MACs are counted for


class _Stub(types.ModuleType):
    """A (package) module whose every public attribute is a fresh dummy class (enough for ``from x import Y``)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.__path__: list[str] = []

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        return type(name, (), {})


class _StubFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def __init__(self, roots: list[str]) -> None:
        self.roots = roots
        self.used: set[str] = set()

    def find_spec(self, fullname, path, target=None):
        if any(fullname == r or fullname.startswith(r + ".") for r in self.roots):
            self.used.add(fullname)
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec):
        return _Stub(spec.name)

    def exec_module(self, module):
        pass


def _importable(name: str) -> bool:
    if name == "mmcv.ops":  # present in mmcv-lite as Python files, but it needs the compiled mmcv._ext
        return importlib.util.find_spec("mmcv._ext") is not None
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def import_from_mmpose(names: dict[str, str]):
    """The real MMPose / mmcv objects ``{name: "module.path"}`` (imported with the unused software stubbed); returns
    (namespace, stubbed module names, versions). Shared with ``rtmpose_onnx.py``."""
    missing = [m for m in ("mmengine", "mmcv", "mmpose") if not _importable(m)]
    if missing:
        raise ImportError(f"{', '.join(missing)} not installed in this interpreter ({sys.executable})")
    finder = _StubFinder([r for r in STUBBABLE if not _importable(r)])
    sys.meta_path.insert(0, finder)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import mmcv
        import mmengine
        import mmpose

        found = {name: getattr(importlib.import_module(module), name) for name, module in names.items()}
    versions = {"mmpose": mmpose.__version__, "mmcv": mmcv.__version__, "mmengine": mmengine.__version__}
    return types.SimpleNamespace(**found), sorted(finder.used), versions


def import_mmpose():
    """Import MMPose's real backbone/head classes; returns (namespace, stubbed module names, versions)."""
    return import_from_mmpose({
        "ContextBlock": "mmcv.cnn", "ResNet": "mmpose.models.backbones", "ViPNAS_ResNet": "mmpose.models.backbones",
        "ViPNAS_MobileNetV3": "mmpose.models.backbones", "HeatmapHead": "mmpose.models.heads",
        "ViPNASHead": "mmpose.models.heads",
    })  # fmt: skip


class MMPoseTopDown(nn.Module):
    """``backbone`` + ``head`` under MMPose's own attribute names (as in ``TopdownPoseEstimator``)."""

    def __init__(self, backbone: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head.forward(self.backbone(x))


def build_mmpose(ns, name: str) -> MMPoseTopDown:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # mmcv's HSigmoid warns about its v1.4.4 default change
        if name == "s_vipnas_res50":
            return MMPoseTopDown(ns.ViPNAS_ResNet(depth=50), ns.ViPNASHead(in_channels=608, out_channels=17))
        if name == "s_vipnas_mbv3":
            return MMPoseTopDown(
                ns.ViPNAS_MobileNetV3(),
                ns.ViPNASHead(
                    in_channels=160,
                    out_channels=17,
                    deconv_out_channels=(160, 160, 160),
                    deconv_num_groups=(160, 160, 160),
                ),
            )
        if name == "sbl_res50":
            return MMPoseTopDown(ns.ResNet(depth=50), ns.HeatmapHead(in_channels=2048, out_channels=17))
    raise ValueError(name)


@torch.no_grad()
def randomize_(model: nn.Module, seed: int, calib: torch.Tensor) -> nn.Module:
    """Random weights (fan-in scaled convs, N(0, .1) biases, U(.5, 1.5) norm scales), BN running stats set from a
    training-mode pass over ``calib`` and then perturbed, random ``num_batches_tracked``.  Asserts that every
    floating-point tensor of the state dict changed.  Returns the model in eval mode."""
    before = {k: v.clone() for k, v in model.state_dict().items()}
    gen = torch.Generator().manual_seed(seed)
    bns = []
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            fan_in = m.weight[0].numel() if isinstance(m, nn.Conv2d) else m.weight.shape[0] // m.groups * 16
            m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * (2.0 / fan_in) ** 0.5)
            if m.bias is not None:
                m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.1)
        elif isinstance(m, (nn.modules.batchnorm._BatchNorm, nn.LayerNorm)):
            m.weight.copy_(torch.rand(m.weight.shape, generator=gen) + 0.5)
            m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.1)
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                bns.append((m, m.momentum))
                m.momentum = 1.0
    model.train()
    model(calib)
    for m, momentum in bns:
        m.momentum = momentum
        std = m.running_var.sqrt()
        m.running_mean.add_(torch.randn(std.shape, generator=gen) * 0.1 * std)
        m.running_var.mul_(0.7 + 0.7 * torch.rand(std.shape, generator=gen))
        m.num_batches_tracked.fill_(int(torch.randint(1, 10_000, (1,), generator=gen)))
    unchanged = [k for k, v in model.state_dict().items() if v.is_floating_point() and torch.equal(v, before[k])]
    if unchanged:
        raise RuntimeError(f"randomize_ left {len(unchanged)} tensors untouched, e.g. {unchanged[:3]}")
    return model.eval()


def count_complexity(ns, model: nn.Module, input_size: tuple[int, int] = INPUT_SIZE) -> dict:
    """Parameters and MACs of an MMPose ``model`` for one (1, 3, H, W) input, counted with forward hooks on its
    ``nn.Conv2d`` / ``nn.ConvTranspose2d`` modules and mmcv ``ContextBlock``s (convention: module docstring).

    Returns ``params``, ``macs``, the per-kind split ``conv``/``deconv``/``gc`` and ``problems`` (hooked modules
    that did not run exactly once, 4-D weights outside a hooked conv, GC blocks without attention pooling)."""
    counts = {"conv": 0, "deconv": 0, "gc": 0}
    calls: dict[str, int] = {}

    def hook(kind: str, name: str):
        def count(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
            calls[name] = calls.get(name, 0) + 1
            if kind == "conv":
                kh, kw = module.kernel_size
                counts[kind] += output.numel() * (module.in_channels // module.groups) * kh * kw
            elif kind == "deconv":
                kh, kw = module.kernel_size
                counts[kind] += inputs[0].numel() * (module.out_channels // module.groups) * kh * kw
            elif module.pooling_type == "att":  # softmax-weighted sum over H*W positions for each of C channels
                counts[kind] += inputs[0].numel()

        return count

    problems, handles = [], []
    for name, module in model.named_modules():
        if isinstance(module, nn.ConvTranspose2d):
            handles.append(module.register_forward_hook(hook("deconv", name)))
        elif isinstance(module, nn.Conv2d):
            handles.append(module.register_forward_hook(hook("conv", name)))
        elif isinstance(module, ns.ContextBlock):
            handles.append(module.register_forward_hook(hook("gc", name)))
            if module.pooling_type != "att":
                problems.append(f"{name}: ContextBlock pooling_type={module.pooling_type!r}")
        elif any(p.dim() == 4 for p in module.parameters(recurse=False)):
            problems.append(f"{name}: 4-D weight in an unhooked {type(module).__name__}")
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(1, 3, *input_size))
    finally:
        for handle in handles:
            handle.remove()
    hooked = [n for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, ns.ContextBlock))]
    problems += [f"{n}: ran {calls.get(n, 0)} times" for n in hooked if calls.get(n, 0) != 1]
    return dict(
        params=sum(p.numel() for p in model.parameters()), macs=sum(counts.values()), problems=problems, **counts
    )


def flop_counter_macs(model: nn.Module, input_size: tuple[int, int] = INPUT_SIZE) -> tuple[int, dict[str, int]]:
    """Second, hook-free measurement: torch's own ``FlopCounterMode`` (2 FLOPs per MAC; it counts convolutions,
    with transposed ones per input pixel, and matmuls, here the GC block's attention pooling). Returns MACs and
    the per-op split."""
    from torch.utils.flop_counter import FlopCounterMode

    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, 3, *input_size))
    per_op = {str(op).removeprefix("aten."): n // 2 for op, n in counter.get_flop_counts()["Global"].items()}
    return counter.get_total_flops() // 2, per_op


def asserted_counts() -> dict[str, tuple[int, int]] | None:
    """``MMPOSE_COUNTS`` as written in tests/models/test_complexity.py (read with ``ast``: no pytest needed)."""
    tree = ast.parse((REPO / "tests" / "models" / "test_complexity.py").read_text())
    for node in tree.body:
        target = (
            node.target
            if isinstance(node, ast.AnnAssign)
            else (node.targets[0] if isinstance(node, ast.Assign) else None)
        )
        if isinstance(target, ast.Name) and target.id == "MMPOSE_COUNTS" and node.value is not None:
            return ast.literal_eval(node.value)
    return None


def check_complexity(name: str, measured: dict, mm: nn.Module) -> list[dict]:
    from vipnas import create_model
    from vipnas.models.complexity import arch_complexity, measure_complexity

    ours = create_model(name)
    analytic = arch_complexity(ours.arch, input_size=INPUT_SIZE)
    hooks = measure_complexity(ours, INPUT_SIZE)
    split = f"conv {measured['conv']:,} + deconv {measured['deconv']:,} + gc {measured['gc']:,}"
    torch_macs, per_op = flop_counter_macs(mm)
    rows = [
        dict(
            model=name,
            check="MACs MMPose hooks/torch FlopCounter",
            value=f"{measured['macs']:,} / {torch_macs:,} ({', '.join(f'{k} {v:,}' for k, v in per_op.items())})",
            ok=measured["macs"] == torch_macs,
        ),
        dict(
            model=name,
            check="MACs MMPose hooks/ours analytic/hooks",
            value=f"{measured['macs']:,} / {analytic.macs:,} / {hooks.macs:,} ({split})"
            + (f"; {'; '.join(measured['problems'][:3])}" if measured["problems"] else ""),
            ok=measured["macs"] == analytic.macs == hooks.macs and not measured["problems"],
        ),
        dict(
            model=name,
            check="params MMPose/ours analytic/hooks",
            value=f"{measured['params']:,} / {analytic.params:,} / {hooks.params:,}",
            ok=measured["params"] == analytic.params == hooks.params,
        ),
    ]
    expected = (asserted_counts() or {}).get(name)
    rows.append(
        dict(
            model=name,
            check="tests' MMPOSE_COUNTS vs measured",
            value=f"{expected[0]:,} params, {expected[1]:,} MACs" if expected else "no MMPOSE_COUNTS entry",
            ok=expected == (measured["params"], measured["macs"]),
        )
    )
    return rows


def rel_diff(a: torch.Tensor, b: torch.Tensor) -> tuple[float, float]:
    diff = (a - b).abs().max().item()
    return diff, diff / max(b.abs().max().item(), 1e-12)


def check_test_reference(name: str, state: dict[str, torch.Tensor], x: torch.Tensor, ref: torch.Tensor, rtol: float):
    """Also validate the pure-torch transcription used by the default test suite against the real MMPose."""
    check = "tests' mmpose_reference vs MMPose"
    path = REPO / "tests" / "models" / "mmpose_reference.py"
    spec = importlib.util.spec_from_file_location("vipnas_tests_mmpose_reference", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    transcription = module.build_reference(name)
    try:
        transcription.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        return dict(model=name, check=check, ok=False, value=" ".join(str(exc).split())[:300])
    with torch.no_grad():
        d, r = rel_diff(transcription.eval()(x), ref)
    return dict(model=name, check=check, value=f"strict load OK, max|d|={d:.2e} rel={r:.2e}", ok=r <= rtol)


def check_model(
    ns, name: str, seeds: list[int], batch: int, rtol: float, tmp: Path, measured: dict[str, dict]
) -> list[dict]:
    from vipnas import create_model
    from vipnas.models.mmpose import convert_mmpose_checkpoint, to_mmpose_keys

    mm = build_mmpose(ns, name)
    measured[name] = count_complexity(ns, mm)
    rows = check_complexity(name, measured[name], mm)
    ours = create_model(name)
    mm_params = sum(p.numel() for p in mm.parameters())
    our_params = sum(p.numel() for p in ours.parameters())
    mm_sd = mm.state_dict()
    our_sd = to_mmpose_keys(ours.state_dict(), ours.arch)
    missing, extra = sorted(set(mm_sd) - set(our_sd)), sorted(set(our_sd) - set(mm_sd))
    bad_shapes = [k for k in set(mm_sd) & set(our_sd) if mm_sd[k].shape != our_sd[k].shape]
    rows.append(
        dict(
            model=name,
            check="params MMPose/ours/expected",
            value=f"{mm_params:,} / {our_params:,} / {MMPOSE_PARAM_COUNTS[name]:,}",
            ok=mm_params == our_params == MMPOSE_PARAM_COUNTS[name],
        )
    )
    rows.append(
        dict(
            model=name,
            check="state-dict keys, shapes",
            value=f"{len(mm_sd)} keys; missing {missing[:2]} extra {extra[:2]} shape {bad_shapes[:2]}"
            if (missing or extra or bad_shapes)
            else f"{len(mm_sd)} keys identical, shapes equal",
            ok=not (missing or extra or bad_shapes),
        )
    )

    for seed in seeds:
        gen = torch.Generator().manual_seed(10_000 + seed)
        calib = torch.randn(4, 3, 256, 192, generator=gen)
        x = torch.randn(batch, 3, 256, 192, generator=gen)

        # MMPose -> checkpoint file (1.x and 0.x) -> ours
        mm = randomize_(build_mmpose(ns, name), seed, calib)
        with torch.no_grad():
            ref = mm(x)
        sd = {k: v.clone() for k, v in mm.state_dict().items()}
        if seed == seeds[0]:
            rows.append(check_test_reference(name, sd, x, ref, rtol))
        for style, prefix in (("1.x", "head."), ("0.x", "keypoint_head.")):
            ckpt = {
                "meta": {"mmpose_version": ns_versions["mmpose"], "seed": seed},
                "state_dict": {(prefix + k[5:] if k.startswith("head.") else k): v for k, v in sd.items()},
            }
            path = tmp / f"{name}_{seed}_{style}.pth"
            torch.save(ckpt, path)
            check = f"seed {seed}: MMPose {style} ckpt -> ours"
            try:
                model = convert_mmpose_checkpoint(path, name)
            except ValueError as exc:
                rows.append(
                    dict(
                        model=name,
                        check=check,
                        ok=False,
                        value="convert_mmpose_checkpoint failed: " + " ".join(str(exc).split())[:300],
                    )
                )
                continue
            with torch.no_grad():
                out = model(x)
            d, r = rel_diff(out, ref)
            value = f"max|d|={d:.2e} rel={r:.2e} (|ref|max={ref.abs().max():.3g})"
            rows.append(
                dict(
                    model=name, check=check, value=value, ok=out.shape == ref.shape == (batch, 17, 64, 48) and r <= rtol
                )
            )
            if style == "1.x" and seed == seeds[0]:
                # negative control: the comparison must notice a 1% change of a single BN variance mid-network
                bn_vars = [k for k, v in model.state_dict().items() if k.endswith("running_var")]
                key = bn_vars[len(bn_vars) // 2]
                with torch.no_grad():
                    model.state_dict()[key].mul_(1.01)
                    d, r = rel_diff(model(x), ref)
                rows.append(
                    dict(
                        model=name,
                        check="negative control (1% on one BN var)",
                        value=f"rel={r:.2e} on {key}",
                        ok=r > rtol,
                    )
                )

        # ours -> to_mmpose_keys -> MMPose load_state_dict(strict=True)
        ours = randomize_(create_model(name), 100 + seed, calib)
        with torch.no_grad():
            out = ours(x)
        mm = build_mmpose(ns, name)
        check = f"seed {seed}: ours -> MMPose strict load"
        try:
            mm.load_state_dict(to_mmpose_keys(ours.state_dict(), ours.arch), strict=True)
        except RuntimeError as exc:
            rows.append(
                dict(
                    model=name,
                    check=check,
                    ok=False,
                    value="load_state_dict failed: " + " ".join(str(exc).split())[:300] + " ...",
                )
            )
            continue
        mm.eval()
        with torch.no_grad():
            ref = mm(x)
        d, r = rel_diff(out, ref)
        rows.append(
            dict(
                model=name,
                check=check,
                value=f"max|d|={d:.2e} rel={r:.2e} (|ref|max={ref.abs().max():.3g})",
                ok=out.shape == ref.shape and r <= rtol,
            )
        )
    return rows


ns_versions: dict[str, str] = {}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=list(NAMES), choices=NAMES)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--rtol", type=float, default=1e-5, help="max |ours - MMPose| / max |MMPose| allowed")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (0: torch's default; 1 is fastest on a shared CPU)"
    )
    args = parser.parse_args(argv)
    try:
        ns, stubs, versions = import_mmpose()
    except ImportError as exc:
        print(
            f"MMPose is not importable: {exc}\n"
            "Run this script with the python of a separate MMPose virtualenv; see the module docstring or "
            "docs/mmpose_equivalence.md for the exact setup.",
            file=sys.stderr,
        )
        return 2
    ns_versions.update(versions)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    print("# MMPose equivalence check")
    print(
        f"machine : {platform.platform()} | {platform.machine()} | {os.cpu_count()} CPUs | "
        f"torch threads {torch.get_num_threads()}"
    )
    print(f"python  : {platform.python_version()} | torch {torch.__version__}")
    print(f"mmpose  : {versions['mmpose']} | mmcv {versions['mmcv']} | mmengine {versions['mmengine']}")
    print(f"stubbed : {', '.join(stubs) or 'none'} (imported by unrelated MMPose modules only)")
    print(f"setup   : seeds {args.seeds}, input {args.batch}x3x256x192, rtol {args.rtol:g}")
    print(f"MACs    : 1x3x{INPUT_SIZE[0]}x{INPUT_SIZE[1]}, Conv2d + ConvTranspose2d + ContextBlock matmul (C*H*W)\n")

    rows, measured = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models:
            rows += check_model(ns, name, args.seeds, args.batch, args.rtol, Path(tmp), measured)
    width = max(len(r["check"]) for r in rows)
    print(f"| {'model':<14} | {'check':<{width}} | ok   | value")
    print(f"|{'-' * 16}|{'-' * (width + 2)}|------|{'-' * 60}")
    for r in rows:
        print(f"| {r['model']:<14} | {r['check']:<{width}} | {'PASS' if r['ok'] else 'FAIL'} | {r['value']}")
    print(f"\nMeasured on MMPose {versions['mmpose']}'s modules, 1x3x{INPUT_SIZE[0]}x{INPUT_SIZE[1]} input:")
    print("MMPOSE_COUNTS = {")
    for name, m in measured.items():
        print(f'    "{name}": ({m["params"]:_}, {m["macs"]:_}),')
    print("}")
    failed = [r for r in rows if not r["ok"]]
    print(f"\n{len(rows) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
