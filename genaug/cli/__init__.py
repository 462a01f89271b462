"""The ``genaug`` command line: ``families``, ``fit``, ``sample``, ``generate``, ``eval``, ``apply`` and ``run``.

Every sub-command has ``--help``. Errors a user can cause or meet (a bad argument, a missing or corrupt
file, a full disk, a read-only output folder) print one line and exit with status 2, leaving no
half-written file behind; ``--debug`` also prints the traceback. An interrupt (Ctrl-C) exits with 130.

Each module adds its own sub-commands (``add_parsers``) beside the functions that run them: `models`
(families, fit, sample, generate, eval), `images` (apply, and the pairs of ``fit --task``), `recipes`
(run); `options` holds the arguments they share. ``python -m genaug.cli`` runs it (``torchrun ... -m
genaug.cli generate``).
"""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

from genaug.cli import images, models, recipes
from genaug.cli.options import parse_labels

__all__ = ["build_parser", "main", "parse_labels"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="genaug", description="Fit generative models on your data; sample them as augmentation.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    parser.add_argument("--debug", action="store_true", help="on an error, also print its traceback")
    sub = parser.add_subparsers(dest="command", required=True)
    models.add_parsers(sub)
    images.add_parsers(sub)
    recipes.add_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("accelerate").setLevel(logging.WARNING)
    try:
        return args.run(args)
    except (ValueError, OSError) as err:  # OSError: missing or unreadable inputs, failed writes (WriteError)
        if args.debug:
            traceback.print_exc()
        print(f"genaug {args.command}: error: {err}{_next_step(args, err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if args.debug:
            traceback.print_exc()
        print(f"genaug {args.command}: interrupted; the files written so far are complete{_next_step(args, None)}", file=sys.stderr)
        return 130


def _next_step(args: argparse.Namespace, err: BaseException | None) -> str:
    """How to continue after an interrupt (``err`` None) or a failed write: a fit from its newest checkpoint, a recipe by a rerun."""
    from genaug.train.checkpoint import latest_checkpoint
    from genaug.utils.io import WriteError

    if not (err is None or isinstance(err, WriteError)):
        return ""
    if args.command == "run":
        return "; the same command again continues where this one stopped (finished units are kept)"
    if args.command != "fit":
        return ""
    try:
        last = latest_checkpoint(Path(args.out) / "checkpoints")
    except OSError:  # the folder is gone or unreadable: nothing to continue from
        return ""
    return "" if last is None else f"; the same command with --resume continues from {last}"
