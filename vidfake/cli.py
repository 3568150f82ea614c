"""The `vidfake` command: a thin layer that parses arguments and calls the library.

Each subcommand lives in `vidfake/commands/<name>.py` with `register(subparsers)`; a module
appears here when its command works. Exit codes are documented in `EXIT_CODES`.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys

from vidfake import __version__, commands
from vidfake.exitcodes import EXIT_CODES, EXIT_FAILED, EXIT_USAGE


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every subcommand module found in `vidfake.commands`."""
    epilog = "exit codes:\n" + "\n".join(f"  {c}  {t}" for c, t in EXIT_CODES.items())
    parser = argparse.ArgumentParser(
        prog="vidfake",
        description="Find deepfakes in video collections.",
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"vidfake {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        importlib.import_module(f"vidfake.commands.{info.name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `vidfake` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError) as exc:
        print(f"vidfake {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE if isinstance(exc, ValueError) else EXIT_FAILED
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
