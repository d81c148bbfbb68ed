"""``alexnet-studio export (JOB_DIR | --imagenet) --format keras|savedmodel|tflite --out PATH``."""

from __future__ import annotations

from pathlib import Path

FORMATS = ("keras", "savedmodel", "tflite")  # alexnet_tf.export.FORMATS (no TF here)


def register(subparsers) -> None:
    """Add the ``export`` command."""
    parser = subparsers.add_parser(
        "export",
        help="export a fine-tuned model or the ImageNet model (keras, savedmodel or tflite)",
        description="Export the trained model of a finished training job, or the installed "
        "ImageNet model (--imagenet). A labels.json with the class names goes beside the "
        "exported file (inside the folder for savedmodel). SavedModel and TFLite exports take "
        "plain RGB photos and do the preprocessing themselves (see docs/export.md). The export "
        "is written to a temporary path and moved into place when complete; an existing "
        "destination is only replaced with --force.",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("job_dir", type=Path, metavar="JOB_DIR", nargs="?")
    source.add_argument(
        "--imagenet", action="store_true", help="export the installed ImageNet (BVLC) model"
    )
    parser.add_argument("--format", dest="fmt", choices=FORMATS, required=True)
    parser.add_argument(
        "--out",
        type=Path,
        required=True,
        metavar="PATH",
        help="destination: a .keras file (or a folder for keras), a folder for savedmodel, "
        "a .tflite file",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="replace an earlier export at --out (never a file or folder an export did not "
        "write: each export leaves an alexnet-studio-export.json marker)",
    )
    parser.set_defaults(handler=run_export)


def run_export(args) -> int:
    """Export the model; print where it went."""
    from ..export import export_model

    source = None if args.imagenet else args.job_dir
    path = export_model(source, args.fmt, args.out, force=args.force)
    what = "the ImageNet model" if args.imagenet else "model"
    print(f"exported {what} ({args.fmt}) to {path}")
    return 0
