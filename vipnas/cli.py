"""The ``vipnas`` command line: one entry point, one module per sub-command under ``vipnas.commands``.

Each command module defines ``HELP`` (one line), ``EXAMPLES`` (runnable examples shown in ``--help``),
``add_arguments(parser)`` and ``run(args) -> int``. Modules are imported only when their command runs, so
``vipnas --help`` stays fast.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import os
import sys
from collections.abc import Sequence

# command name -> module under vipnas.commands. Order is the order shown in --help.
COMMANDS: dict[str, str] = {
    "demo": "demo",
    "synth": "synth",
    "contact-sheet": "contact_sheet",
    "train": "train",
    "eval": "evaluate",
    "search": "search",
    "allocate": "allocate",
    "ablation": "ablation",
    "video": "video",
    "serve": "serve",
    "extract": "extract",
    "export": "export",
    "latency-table": "latency_table",
    "info": "info",
    "convert-mmpose": "convert_mmpose",
}


def _available() -> dict[str, str]:
    """Commands whose module exists in this installation."""
    found = {}
    for name, module in COMMANDS.items():
        if importlib.util.find_spec(f"vipnas.commands.{module}") is not None:
            found[name] = module
    return found


class _Parser(argparse.ArgumentParser):
    """argparse with "did you mean" suggestions for unknown options."""

    def error(self, message: str) -> None:  # type: ignore[override]
        if "unrecognized arguments:" in message:
            unknown = message.split("unrecognized arguments:", 1)[1].split()
            known = [s for action in self._actions for s in action.option_strings]
            for action in self._actions:  # the chosen command's options live in its sub-parser
                for sub in getattr(action, "choices", None) or {}:
                    if isinstance(action.choices[sub], argparse.ArgumentParser):
                        known += [s for a in action.choices[sub]._actions for s in a.option_strings]
            hints = []
            for word in unknown:
                close = difflib.get_close_matches(word.split("=")[0], known, n=1)
                if close:
                    hints.append(f"{word!r}: did you mean {close[0]!r}?")
            if hints:
                message += "\n  " + "\n  ".join(hints)
        super().error(message)


def build_parser() -> argparse.ArgumentParser:
    from vipnas.version import __version__

    parser = _Parser(
        prog="vipnas",
        description="ViPNAS: fast video pose estimation with searched networks.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"vipnas {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name in _available().items():
        module = importlib.import_module(f"vipnas.commands.{module_name}")
        command = sub.add_parser(
            name,
            help=module.HELP,
            description=module.HELP,
            epilog="examples:\n" + "\n".join(f"  {line}" for line in module.EXAMPLES),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        command.__class__ = _Parser
        module.add_arguments(command)
        command.set_defaults(_module=module)
    return parser


def _flush_subnormals() -> None:
    """Treat subnormal floats as zero on the CPU (FTZ/DAZ). The paper's N(0, 0.001) initialisation makes
    activations of young networks shrink into subnormal range, which x86 CPUs process tens of times slower; a
    value below 1e-38 changes nothing a pose network computes."""
    import torch

    torch.set_flush_denormal(True)


def _error_message(error: BaseException) -> str:
    """The user-facing text of ``error``. An error raised in a DataLoader worker reaches the main process with the
    worker's traceback inside its message ("Caught ValueError in DataLoader worker process 0. Original
    Traceback ..."); only the original message is kept, so it reads as it would without workers."""
    text = str(error)
    if text.startswith("Caught ") and "\nOriginal Traceback" in text:
        name = type(error).__name__
        position = text.rfind(f"\n{name}: ")
        if position >= 0:
            text = text[position + len(name) + 3 :].rstrip()
    return text


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    available = _available()
    if argv and not argv[0].startswith("-") and argv[0] not in available:
        close = difflib.get_close_matches(argv[0], list(available), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        print(f"vipnas: unknown command {argv[0]!r}.{hint} Commands: {', '.join(available)}", file=sys.stderr)
        return 2
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    _flush_subnormals()
    try:
        return int(args._module.run(args) or 0)
    except (ValueError, TypeError, FileNotFoundError, FileExistsError, KeyError, ImportError) as error:
        if getattr(args, "debug", False) or os.environ.get("VIPNAS_DEBUG") == "1":
            raise
        print(f"vipnas {args.command}: error: {_error_message(error)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
