"""``alexnet-studio atlas FOLDER [--model M] [--layers L,..] [--top K] --out DIR [--json]``.

``--compare imagenet`` with a job as ``--model``: what fine-tuning changed (``explain.compare``).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from ..errors import DatasetError, ModelLoadError, WeightsNotInstalledError
from ..fileio import json_text
from .arguments import add_model_argument

# Kept in step with alexnet_tf.explain.atlas.ATLAS_LAYERS (--help must not import NumPy/TF).
LAYERS = ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8")


def register(subparsers) -> None:
    """Add the ``atlas`` command."""
    parser = subparsers.add_parser(
        "atlas",
        help="the images of a folder that excite each unit most (a unit atlas), as PNG sheets",
        description="For every unit of the chosen layers, find the K images of FOLDER (any "
        "folder; sub-folders are searched) where it responds most: conv units by their maximum "
        "over the map, with where it is and the receptive field it sees; fc units by their "
        "value. Writes DIR/atlas.json, a PNG sheet of top patches per layer (wide layers: a "
        "sheet per 128 units) and DIR/index.html to browse them. Cached in the data folder: "
        "a second run on the same model and unchanged folder is instant. With --compare "
        "imagenet and a fine-tuning job as --model, also lists the units of conv5, fc6 and fc7 "
        "whose top images changed most. Exit status 0: done; 1: done, but some files could "
        "not be read; 2: nothing could be done; 130: cancelled (Ctrl-C).",
    )
    parser.add_argument("folder", type=Path, metavar="FOLDER")
    add_model_argument(parser)
    parser.add_argument(
        "--layers",
        default=",".join(LAYERS),
        metavar="L,..",
        help=f"comma-separated, some of {','.join(LAYERS)} (default: all)",
    )
    parser.add_argument("--top", type=int, default=9, metavar="K", help="images per unit (9)")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="folder to write")
    parser.add_argument(
        "--compare",
        choices=("imagenet",),
        help="compare a job's atlas with the ImageNet model's on the same folder",
    )
    parser.add_argument("--json", action="store_true", help="print a summary as one JSON object")
    parser.set_defaults(handler=run_atlas, parser=parser, runs_model=True)


def _layers(parser, text: str) -> list[str]:
    layers = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in layers if name not in LAYERS]
    if not layers or unknown:
        parser.error(f"--layers takes some of {','.join(LAYERS)}. Received: --layers {text}")
    return layers


def _check_writable(out: Path) -> str | None:
    """Why ``out`` cannot receive the atlas, or None: checked before hours of work."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".atlas-check-"):
            pass
    except OSError as error:
        return f"{out}: cannot write there ({error.strerror or error})"
    return None


def run_atlas(args) -> int:
    """Build (or read) the atlas, write its files; return the exit status."""
    parser = args.parser
    layers = _layers(parser, args.layers)
    if args.top < 1:
        parser.error(f"--top must be a positive integer. Received: --top {args.top}")
    if args.compare and args.model is None:
        parser.error("--compare imagenet compares a fine-tuned model: give it with --model JOB")
    problem = _check_writable(args.out)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    from ..weights.store import weights_installed

    if (args.model is None or args.compare) and not weights_installed():
        print(f"error: {WeightsNotInstalledError()}", file=sys.stderr)
        return 2
    from ..stopping import StopFlag

    stop = StopFlag("stopping after the current batch…", second_interrupts=True)
    stop.install()
    show_progress = not args.json and sys.stderr.isatty()

    def progress(done: int, total: int) -> None:
        if show_progress:
            print(f"\ratlas: {done}/{total} images", end="", file=sys.stderr, flush=True)

    from ..explain.atlas import AtlasCancelled, atlas_for
    from ..explain.compare import COMPARED_LAYERS, fine_tuning_mode

    mode = fine_tuning_mode(args.model) if args.compare else None
    computed = layers
    if args.compare and mode != "head":
        computed = [name for name in LAYERS if name in {*layers, *COMPARED_LAYERS}]
    try:
        atlas = atlas_for(args.model, args.folder, layers=computed, top=args.top,
                          progress=progress, should_stop=stop)  # fmt: skip
        imagenet = None
        if args.compare and mode != "head":
            imagenet = atlas_for(None, args.folder, layers=COMPARED_LAYERS, top=args.top,
                                 progress=progress, should_stop=stop)  # fmt: skip
    except (WeightsNotInstalledError, ModelLoadError, DatasetError) as error:
        print(f"{chr(10) if show_progress else ''}error: {error}", file=sys.stderr)
        return 2
    except AtlasCancelled as error:
        print(f"\natlas: {error}", file=sys.stderr)
        return 130
    if show_progress:
        print(file=sys.stderr)
    summary = write_outputs(atlas, imagenet, mode if args.compare else None, args.out, layers)
    if args.json:
        print(json_text(summary))
    else:
        for entry in atlas.errors:
            print(f"{entry['image']}: error: {entry['error']}", file=sys.stderr)
        print(format_summary(summary))
    return 1 if atlas.errors else 0


def write_outputs(atlas, imagenet, mode, out: Path, layers) -> dict:
    """atlas.json and the sheets of ``layers``, the comparison and index.html in ``out``;
    the summary. (The layers only compared are shown by the comparison's own sheets.)"""
    from ..explain.atlas_sheets import write_compare_sheet, write_index, write_sheets
    from ..explain.compare import HEAD_MODE_TEXT, changed_units, summary_text
    from ..fileio import write_text_atomic

    shown = atlas.only(layers)
    write_text_atomic(out / "atlas.json", json_text(shown.to_json()) + "\n")
    sheets = write_sheets(shown, out)
    compare = None
    if mode == "head":
        compare = {"mode": "head", "summary": HEAD_MODE_TEXT, "layers": {}}
    elif imagenet is not None:
        changed = changed_units(atlas, imagenet)
        summary = summary_text(changed, len(atlas.images), atlas.top)
        compare = {"mode": mode, "summary": summary, "layers": changed, "sheets": {}}
        for layer, found in changed.items():
            name = f"compare-{layer}.png"
            units = [row["unit"] for row in found["units"]]
            write_compare_sheet(atlas, imagenet, layer, units, out / name)
            compare["sheets"][layer] = name
        write_text_atomic(out / "compare.json", json_text(compare) + "\n")
    index = write_index(out, shown, sheets, compare)
    return {
        "model": atlas.model,
        "folder": str(atlas.folder),
        "images": len(atlas.images),
        "errors": atlas.errors,
        "top": atlas.top,
        "layers": list(shown.layers),
        "cached": atlas.cached,
        "seconds": atlas.seconds,
        "atlas": str(out / "atlas.json"),
        "sheets": {layer: [str(out / name) for name in names] for layer, names in sheets.items()},
        "index": str(index),
        "compare": compare,
    }


def format_summary(summary: dict) -> str:
    """The readable report."""
    how = "read from the cache" if summary["cached"] else f"in {summary['seconds']:.1f} s"
    lines = [
        f"Unit atlas of {summary['model']}: {summary['images']} images of {summary['folder']}, "
        f"top {summary['top']} per unit of {', '.join(summary['layers'])} ({how})",
        f"Wrote {summary['atlas']}",
        f"Wrote {sum(len(v) for v in summary['sheets'].values())} sheets; open "
        f"{summary['index']} to browse them",
    ]
    if summary["compare"] is not None:
        lines += ["", "What fine-tuning changed:", summary["compare"]["summary"]]
    if summary["errors"]:
        lines += ["", f"{len(summary['errors'])} file(s) could not be read (listed above)."]
    return "\n".join(lines)
