"""``alexnet-studio evaluate FOLDER [--model M] [--crops center|10] [--json] [--csv OUT]``."""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path

from ..errors import DatasetError, ModelLoadError, WeightsNotInstalledError
from ..fileio import json_text
from .arguments import add_model_argument

MAX_ROWS_SHOWN = 50  # per-class rows in the readable report (--json has all)


def register(subparsers) -> None:
    """Add the ``evaluate`` command."""
    parser = subparsers.add_parser(
        "evaluate",
        help="accuracy of a model on a labelled folder (one sub-folder per class)",
        description="Classify every image below FOLDER and compare with its sub-folder: top-1 "
        "and top-5 accuracy, per-class accuracy, the most confused pairs and the speed. For the "
        "ImageNet model the sub-folders are WordNet IDs (n01440764, as ILSVRC2012 val is "
        "usually sorted) or class names; for a fine-tuned model, its class names. Sub-folders "
        "that match no class are reported and left out. Ctrl-C (or SIGTERM) stops after the "
        "current batch. Exit status 0: evaluated; 1: evaluated, but some files could not be "
        "read; 2: nothing could be evaluated; 130: cancelled.",
    )
    parser.add_argument("folder", type=Path, metavar="FOLDER")
    add_model_argument(parser)
    parser.add_argument(
        "--crops",
        choices=("center", "10"),
        default="center",
        help="center: the centre crop, as classify and the published BVLC accuracy (default); "
        "10: average the four corner and centre crops and their mirrors (AlexNet paper)",
    )
    parser.add_argument("--json", action="store_true", help="print the report as one JSON object")
    parser.add_argument("--csv", type=Path, metavar="OUT", help="also write one row per image")
    parser.set_defaults(handler=run_evaluate)


def run_evaluate(args) -> int:
    """Evaluate; print the report; return the exit status."""
    from ..weights.store import weights_installed

    # Checked before importing TensorFlow: answering "no weights" should not take seconds.
    if args.model is None and not weights_installed():
        print(f"error: {WeightsNotInstalledError()}", file=sys.stderr)
        return 2
    if args.csv is not None:  # before the run, which may take half an hour
        from ..destinations import check_file_destination

        check_file_destination(args.csv)
    from ..jobfolder import still_running_note

    note = still_running_note(args.model)
    if note:
        print(f"warning: {note}", file=sys.stderr, flush=True)
    if args.model is not None:  # a folder without a model: said before TensorFlow's 3-6 s too
        from ..predictions import resolve_model_spec

        try:
            resolve_model_spec(args.model)
        except ModelLoadError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
    from ..stopping import StopFlag

    stop = StopFlag("stopping after the current batch…", second_interrupts=True)
    stop.install()
    from ..folder_evaluation import EvaluationCancelled, evaluate_folder
    from ..inference import Classifier

    try:
        classifier = Classifier.load(args.model)
    except (WeightsNotInstalledError, ModelLoadError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    show_progress = not args.json and sys.stderr.isatty()

    def progress(done: int, total: int) -> None:
        if show_progress:
            print(f"\revaluating {done}/{total}", end="", file=sys.stderr, flush=True)

    try:
        report = evaluate_folder(
            classifier,
            args.folder,
            crops=args.crops,
            per_image=args.csv is not None,
            progress=progress,
            should_stop=stop,
        )
    except DatasetError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except EvaluationCancelled as error:
        print(f"\nevaluate: {error}", file=sys.stderr)
        return 130
    finally:
        if show_progress:
            print(file=sys.stderr)
    if args.json:
        print(json_text(report))
    else:
        for entry in report["errors"]:  # as classify reports them
            print(f"{entry['image']}: error: {entry['error']}", file=sys.stderr)
        for entry in report["skipped"]:
            print(f"{entry['path']}: skipped: {entry['reason']}", file=sys.stderr)
        print(format_report(report))
    if args.csv is not None:
        from ..destinations import writing
        from ..fileio import write_text_atomic

        with writing(args.csv):
            write_text_atomic(args.csv, _csv_text(report))
        if not args.json:
            print(f"Wrote {args.csv}")
    return 1 if report["errors"] else 0


def _percent(value: float) -> str:
    return f"{value * 100:.1f}%"


def format_report(report: dict) -> str:
    """The readable report."""
    crops = "centre crop" if report["crops"] == "center" else "10 crops (corners, centre, mirrors)"
    n = report["num_examples"]
    correct = round(report["top1"] * n)
    lines = [
        f"Model: {report['model']} · {crops}",
        f"Folder: {report['folder']} ({len(report['class_folders'])} class folders, {n} images)",
        "",
        f"Top-1 accuracy: {_percent(report['top1'])} ({correct} of {n})",
    ]
    if "top5" in report:
        lines.append(f"Top-5 accuracy: {_percent(report['top5'])}")
    lines.append(
        f"Speed: {report['images_per_second']:.1f} images/s ({report['seconds']:.1f} s, "
        "decoding included)"
    )
    rows = [row for row in report["per_class"] if row["support"]]
    width = max([len("class"), *(len(row["class"][:50]) for row in rows)])
    lines += ["", f"  {'class':<{width}}  images  accuracy", f"  {'-' * width}  ------  --------"]
    for row in rows[:MAX_ROWS_SHOWN]:
        lines.append(f"  {row['class'][:50]:<{width}}  {row['support']:>6}  "
                     f"{_percent(row['recall']):>8}")  # fmt: skip
    if len(rows) > MAX_ROWS_SHOWN:
        lines.append(f"  ... and {len(rows) - MAX_ROWS_SHOWN} more classes (see --json)")
    if report["most_confused"]:
        lines += ["", "Most confused (true -> predicted: images):"]
        lines += [
            f"  {pair['true']} -> {pair['predicted']}: {pair['count']}"
            for pair in report["most_confused"]
        ]
    if report["unmatched_folders"]:
        names = ", ".join(report["unmatched_folders"])
        lines += ["", f"Folders that match no class of the model (not evaluated): {names}"]
    if report.get("skipped"):
        names = ", ".join(Path(entry["path"]).name for entry in report["skipped"])
        lines += ["", f"Linked folders not followed (listed above): {names}"]
    if report["errors"]:
        lines += ["", f"{len(report['errors'])} file(s) could not be read (listed above)."]
    return "\n".join(lines)


def _csv_text(report: dict) -> str:
    """One row per image: image, true, predicted, probability, top1, top5; then bad files."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["image", "true", "predicted", "probability", "top1", "top5", "error"])
    for row in report["images"]:
        correct = row["true"] == row["predicted"]
        writer.writerow([row["image"], row["true"], row["predicted"], row["probability"],
                         int(correct), int(row["top5"]), ""])  # fmt: skip
    for entry in report["errors"]:
        writer.writerow([entry["image"], "", "", "", "", "", entry["error"]])
    return buffer.getvalue()
