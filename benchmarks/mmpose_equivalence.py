"""Check our static networks against the real MMPose modules, in both directions.

For ``s_vipnas_res50``, ``s_vipnas_mbv3`` and ``sbl_res50`` and several seeds this script

1. builds MMPose's own backbone + head (``ViPNAS_ResNet(depth=50)`` + ``ViPNASHead(608, 17)``,
   ``ViPNAS_MobileNetV3()`` + ``ViPNASHead(160, 17, (160,)*3, groups (160,)*3)``, ``ResNet(50)`` +
   ``HeatmapHead(2048, 17)``), randomises every weight and BN/LN statistic, saves it as an MMPose 1.x checkpoint
   (``backbone.*`` / ``head.*``) and as a 0.x one (``keypoint_head.*``), loads both with our
   ``convert_mmpose_checkpoint`` and compares heatmaps on random inputs;
2. randomises *our* model, converts its state dict with ``to_mmpose_keys``, loads it into MMPose with
   ``load_state_dict(strict=True)`` and compares heatmaps again;
3. compares key sets, tensor shapes and parameter counts.

It prints a table and exits 1 on any mismatch (relative max-abs difference above ``--rtol``), 2 when MMPose
cannot be imported.  Nothing in the ``vipnas`` package depends on MMPose; this script needs its own virtualenv,
kept outside the repository (see docs/mmpose_equivalence.md for the exact versions that were used)::

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


def import_mmpose():
    """Import MMPose's real backbone/head classes; returns (namespace, stubbed module names, versions)."""
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
        from mmpose.models.backbones import ResNet, ViPNAS_MobileNetV3, ViPNAS_ResNet
        from mmpose.models.heads import HeatmapHead, ViPNASHead
    ns = types.SimpleNamespace(
        ResNet=ResNet,
        ViPNAS_ResNet=ViPNAS_ResNet,
        ViPNAS_MobileNetV3=ViPNAS_MobileNetV3,
        HeatmapHead=HeatmapHead,
        ViPNASHead=ViPNASHead,
    )
    versions = {"mmpose": mmpose.__version__, "mmcv": mmcv.__version__, "mmengine": mmengine.__version__}
    return ns, sorted(finder.used), versions


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


def check_model(ns, name: str, seeds: list[int], batch: int, rtol: float, tmp: Path) -> list[dict]:
    from vipnas import create_model
    from vipnas.models.mmpose import convert_mmpose_checkpoint, to_mmpose_keys

    rows = []
    mm = build_mmpose(ns, name)
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
    print(f"setup   : seeds {args.seeds}, input {args.batch}x3x256x192, rtol {args.rtol:g}\n")

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models:
            rows += check_model(ns, name, args.seeds, args.batch, args.rtol, Path(tmp))
    width = max(len(r["check"]) for r in rows)
    print(f"| {'model':<14} | {'check':<{width}} | ok   | value")
    print(f"|{'-' * 16}|{'-' * (width + 2)}|------|{'-' * 60}")
    for r in rows:
        print(f"| {r['model']:<14} | {r['check']:<{width}} | {'PASS' if r['ok'] else 'FAIL'} | {r['value']}")
    failed = [r for r in rows if not r["ok"]]
    print(f"\n{len(rows) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
