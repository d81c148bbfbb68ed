"""``alexnet-studio classify IMAGE_OR_FOLDER... [--model PATH] [--top K] [--json] [--csv OUT]``."""

from __future__ import annotations

import argparse
import csv
import io
import sys
from pathlib import Path

from ..errors import ModelLoadError, WeightsNotInstalledError
from ..fileio import json_text
from .arguments import add_model_argument

BATCH_SIZE = 32  # images decoded and classified together; one batch is ~20 MB of input


def register(subparsers) -> None:
    """Add the ``classify`` command."""
    parser = subparsers.add_parser(
        "classify",
        help="classify images (files or folders) with AlexNet",
        description="Print the top classes of each image. Folders are searched for image files "
        "(hidden files skipped). A file that cannot be read is reported and the others still run; "
        "the exit status is 1 if any failed, 2 if nothing could be classified (no model).",
    )
    parser.add_argument("inputs", nargs="+", metavar="IMAGE_OR_FOLDER", type=Path)
    add_model_argument(parser)
    parser.add_argument(
        "--top", type=_positive_int, default=5, metavar="K", help="classes per image (default 5)"
    )
    parser.add_argument(
        "--precision",
        choices=("fp32", "bf16"),
        default="fp32",
        help="fp32 (default, exact) or bf16: faster only on CPUs with bf16 units (AMX, "
        "AVX512_BF16); probabilities differ slightly and a close top-5 may reorder",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per image per line")
    parser.add_argument("--csv", type=Path, metavar="OUT", help="also write the results as CSV")
    parser.set_defaults(handler=run_classify, runs_model=True)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def run_classify(args) -> int:
    """Classify every input; print results as they come; return the exit status."""
    from ..weights.store import weights_installed

    # Checked before importing TensorFlow: answering "no weights" should not take seconds.
    if args.model is None and not weights_installed():
        print(f"error: {WeightsNotInstalledError()}", file=sys.stderr)
        return 2
    if args.csv is not None:
        from ..destinations import check_file_destination

        check_file_destination(args.csv)
    from ..images import expand_inputs

    items = expand_inputs(args.inputs)
    try:
        classifier, build_after = _load_classifier(args.model, args.precision, len(items))
    except (WeightsNotInstalledError, ModelLoadError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    top = min(args.top, classifier.num_classes)

    records = []
    if not args.json:
        print(f"Model: {classifier.name}")
    from PIL import Image

    from ..batches import iter_loaded_chunks

    for loaded in iter_loaded_chunks(items, BATCH_SIZE):
        decoded = [item for item in loaded if item.error is None]
        images = [Image.fromarray(item.resized) for item in decoded]
        predictions = iter(classifier.classify_batch(images, top=top) if images else [])
        for item in loaded:
            record = {"image": str(item.path)}
            if item.error is not None:
                record["error"] = item.error
            else:
                record["model"] = classifier.name
                record["predictions"] = [p.to_dict() for p in next(predictions)]
            _print_record(record, args.json)
            records.append(record)

    if args.csv is not None:
        from ..destinations import writing
        from ..fileio import write_text_atomic

        with writing(args.csv):
            write_text_atomic(args.csv, _csv_text(records, top))
        if not args.json:
            print(f"Wrote {args.csv}")
    if build_after:
        # The next run starts in a second: convert the model for LiteRT, in the background.
        from ..flatbuffer_cache import start_background_build

        start_background_build(args.model)
    return 1 if any("error" in record for record in records) else 0


def _load_classifier(model, precision: str, count: int):
    """The classifier to use for ``count`` images, and whether to build the LiteRT flatbuffer
    afterwards: LiteRT from the cached flatbuffer when it is valid and the fastest for this
    many images (no TensorFlow import at all), else TensorFlow as before."""
    build_after = False
    if precision == "fp32":
        from ..litert_classifier import LiteClassifier, litert_preferred

        if litert_preferred(count):
            lite, _reason = LiteClassifier.load(model)
            if lite is not None:
                return lite, False
            build_after = True
    from ..inference import Classifier

    return Classifier.load(model, precision=precision), build_after


def _print_record(record: dict, as_json: bool) -> None:
    if as_json:
        print(json_text(record), flush=True)
        return
    if "error" in record:
        print(f"{record['image']}: error: {record['error']}", file=sys.stderr, flush=True)
        return
    lines = [record["image"]]
    width = max(len(p["label"]) for p in record["predictions"])
    width = min(width, 60)
    for p in record["predictions"]:
        label = p["label"] if len(p["label"]) <= 60 else p["label"][:57] + "..."
        lines.append(f"  {p['rank']:>2}. {label:<{width}}  {p['probability'] * 100:6.2f}%")
    print("\n".join(lines), flush=True)


def _csv_text(records: list[dict], top: int) -> str:
    """One row per image: image, then label/index/probability per rank, then error."""
    header = ["image"]
    for rank in range(1, top + 1):
        header += [f"label_{rank}", f"index_{rank}", f"probability_{rank}"]
    header.append("error")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for record in records:
        row = [record["image"]]
        predictions = record.get("predictions", [])
        for rank in range(top):
            if rank < len(predictions):
                p = predictions[rank]
                row += [p["label"], p["index"], p["probability"]]
            else:
                row += ["", "", ""]
        row.append(record.get("error", ""))
        writer.writerow(row)
    return buffer.getvalue()
