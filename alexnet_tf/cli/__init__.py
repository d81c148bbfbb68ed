"""The ``alexnet-studio`` command line: argument parsing only; each subcommand calls the library.

Each sub-module defines ``register(subparsers)``, which adds its parser and sets
``handler`` (a function taking the parsed arguments and returning the exit status).
TensorFlow is imported by the handlers, not here, so ``--help`` is instant.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from ..errors import AlexNetStudioError, DestinationError

# Sub-modules of this package, one per command group, in the order shown by --help.
COMMAND_MODULES = (
    "weights", "classify", "evaluate", "features", "atlas", "scan", "train", "export", "info",
    "desktop", "visualize", "explain", "summary",
)  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    """The parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="alexnet-studio",
        description="AlexNet Studio: classify images with AlexNet, look inside it, fine-tune it. "
        "Without a command, opens the app (with any image paths given).",
    )
    # Handled by app.launch before parsing (it applies to the app too); listed for --help.
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="show TensorFlow's own start-up messages on the terminal (otherwise they go to "
        "logs/tensorflow.log in the data folder); same as ALEXNET_STUDIO_VERBOSE=1",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(f"{__name__}.{name}").register(subparsers)
    return parser


def command_names() -> set[str]:
    """Names of the subcommands, so the launcher can tell a command from an image path."""
    return set(build_parser()._subparsers._group_actions[0].choices)  # noqa: SLF001


def run(argv: list[str]) -> int:
    """Parse ``argv`` (without the program name), run the command, return its exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    try:
        if getattr(args, "runs_model", False):
            # First model run on this machine/version: measure the fastest paths in the
            # background for the next runs; this one uses the safe default.
            from ..speed import start_background_measurement

            start_background_measurement()
        return args.handler(args)
    except DestinationError as error:  # nothing was done: like a usage error
        print(f"error: {error}", file=sys.stderr)
        return 2
    except AlexNetStudioError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
