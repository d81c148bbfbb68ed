"""Arguments several commands share, worded once."""

from __future__ import annotations

import argparse

MODEL_HELP = "a fine-tuned .keras file or training job folder (default: ImageNet weights)"


def add_model_argument(parser: argparse.ArgumentParser) -> None:
    """``--model PATH``: which model the command runs (ImageNet when left out)."""
    parser.add_argument("--model", metavar="PATH", help=MODEL_HELP)
