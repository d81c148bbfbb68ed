"""Entry point of ``alexnet-studio``: a subcommand runs the command line, anything else opens the app.

Kept free of Qt and TensorFlow imports so that command-line use does not load Qt and the
window can appear before TensorFlow is imported.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Run ``alexnet-studio [COMMAND ...] | [IMAGE ...]``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    from alexnet_tf import cli

    if argv and (argv[0] in cli.command_names() or argv[0] in ("-h", "--help")):
        return cli.run(argv)
    from app.main_window import run_app

    return run_app(argv)


if __name__ == "__main__":
    sys.exit(main())
