"""``alexnet-studio export JOB_DIR --format keras|savedmodel|tflite --out PATH [--force]``."""

from __future__ import annotations

from pathlib import Path

FORMATS = ("keras", "savedmodel", "tflite")  # alexnet_tf.training.export.FORMATS (no TF here)


def register(subparsers) -> None:
    """Add the ``export`` command."""
    parser = subparsers.add_parser(
        "export",
        help="export a fine-tuned model (keras, savedmodel or tflite) with its class names",
        description="Export the trained model of a finished training job. A labels.json with "
        "the class names goes beside the exported file (inside the folder for savedmodel). "
        "The export is written to a temporary path and moved into place when complete; an "
        "existing destination is only replaced with --force.",
    )
    parser.add_argument("job_dir", type=Path, metavar="JOB_DIR")
    parser.add_argument("--format", dest="fmt", choices=FORMATS, required=True)
    parser.add_argument(
        "--out",
        type=Path,
        required=True,
        metavar="PATH",
        help="destination: a .keras file (or a folder for keras), a folder for savedmodel, "
        "a .tflite file",
    )
    parser.add_argument("--force", action="store_true", help="replace an existing export")
    parser.set_defaults(handler=run_export)


def run_export(args) -> int:
    """Export the model; print where it went."""
    from ..training.export import export_model

    path = export_model(args.job_dir, args.fmt, args.out, force=args.force)
    print(f"exported {args.fmt} model to {path}")
    return 0
