"""``alexnet-studio summary [--model M] [--json]``: every layer's shape, size, work and time."""

from __future__ import annotations

from ..fileio import json_text
from .arguments import add_model_argument
from .explain import load_classifier


def register(subparsers) -> None:
    """Add the ``summary`` command."""
    parser = subparsers.add_parser(
        "summary",
        help="print each layer's output shape, parameters, multiply-adds, memory and time",
        description="For each layer of the model: output shape, parameters, multiply-adds per "
        "image, activation memory at batch 1, and its time for one image measured here (one "
        "forward pass, timed layer by layer).",
    )
    add_model_argument(parser)
    parser.add_argument("--no-time", action="store_true", help="skip the measurement")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.set_defaults(handler=run_summary, runs_model=True)


def run_summary(args) -> int:
    """Print the summary; return the exit status."""
    classifier = load_classifier(args.model)
    if classifier is None:
        return 2
    from ..explain.summary import format_summary, summarize

    summary = summarize(classifier.model, measure=not args.no_time)
    summary["model"] = classifier.name
    print(json_text(summary) if args.json else f"{classifier.name}\n{format_summary(summary)}")
    return 0
