"""``alexnet-studio visualize --layer L --unit U[,U...] --out unit.png``: preferred images."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..fileio import json_text
from .arguments import add_model_argument
from .explain import check_png, load_classifier

LAYERS = ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8")


def register(subparsers) -> None:
    """Add the ``visualize`` command."""
    parser = subparsers.add_parser(
        "visualize",
        help="make the image that excites a unit most (gradient ascent), as a PNG",
        description="Optimise a 227x227 input to excite one unit (or several, in one batch), "
        "with the regularisers of Yosinski et al. 2015 (jitter, L2 decay, blur, clipping of "
        "weak pixels). The PNG is the network's input as it is (RGB before mean subtraction): "
        "fed back as the crop it gives the activation printed. With several units, each is "
        "written as OUT-STEM-<unit>.png.",
    )
    parser.add_argument(
        "--layer", required=True, choices=LAYERS, metavar="L", help=", ".join(LAYERS)
    )
    parser.add_argument(
        "--unit", required=True, type=_units, metavar="U", help="a unit, or several: 0,1,2"
    )
    parser.add_argument("--out", type=Path, required=True, metavar="PNG", help="the PNG to write")
    add_model_argument(parser)
    parser.add_argument("--steps", type=int, metavar="N", help="ascent steps (default 128)")
    parser.add_argument(
        "--seed", type=int, metavar="S", help="seed (default 0): same seed, same image"
    )
    parser.add_argument(
        "--folder",
        type=Path,
        metavar="DIR",
        help="also report each unit's maximum over the images of DIR (centre crops), to compare",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object per unit")
    parser.set_defaults(handler=run_visualize, parser=parser, runs_model=True)


def _units(text: str) -> list[int]:
    try:
        units = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected unit numbers like 5 or 0,1,2, got {text!r}"
        ) from None
    if not units or min(units) < 0:
        raise argparse.ArgumentTypeError(f"expected non-negative unit numbers, got {text!r}")
    return units


def output_paths(out: Path, units: list[int]) -> list[Path]:
    """``out`` for one unit; ``stem-<unit>.png`` beside it for several."""
    if len(units) == 1:
        return [out]
    return [out.with_name(f"{out.stem}-{unit}{out.suffix}") for unit in units]


def run_visualize(args) -> int:
    """Make the images, write them, print what they reach; return the exit status."""
    check_png(args.parser, args.out)
    if args.folder is not None and not args.folder.is_dir():
        args.parser.error(f"--folder: {args.folder} is not a folder")
    classifier = load_classifier(args.model)
    if classifier is None:
        return 2
    from ..explain.preferred import PreferredImageMaker, save_rgb_png, settings_for

    try:
        settings = settings_for(args.layer, args.steps, args.seed).check()
        maker = PreferredImageMaker(classifier.model, args.layer)
        if max(args.unit) >= maker.units:
            raise ValueError(f"{args.layer} has {maker.units} units (0 to {maker.units - 1})")
    except ValueError as error:
        args.parser.error(str(error))
    folder_max = None
    if args.folder is not None:
        folder_max = folder_maxima(maker, args.folder, args.unit)
    images = maker.make(args.unit, settings)
    for image, path in zip(images, output_paths(args.out, args.unit), strict=True):
        save_rgb_png(image.rgb, path)
        row = {**image.to_dict(), "out": str(path), "model": classifier.name}
        row["folder_max"] = None if folder_max is None else folder_max[image.unit]
        if args.json:
            print(json_text(row))
        else:
            compared = ""
            if folder_max is not None:
                compared = f" (the folder's best image: {folder_max[image.unit]:.4g})"
            print(
                f"Wrote {path}: {args.layer} unit {image.unit} reaches {image.activation:.4g}"
                f"{compared} after {image.steps} steps in {image.seconds:.1f} s"
            )
    return 0


def folder_maxima(maker, folder: Path, units: list[int]) -> dict[int, float]:
    """Each unit's largest response over the images of ``folder`` (centre crops; unreadable
    files are reported on stderr and skipped)."""
    import numpy as np

    from ..errors import ImageLoadError
    from ..images import find_image_files, load_image
    from ..preprocess import center_crop, resize_for_network

    files, _ = find_image_files(folder)
    best = {unit: float("-inf") for unit in units}
    for start in range(0, len(files), 16):
        crops = []
        for path in files[start : start + 16]:
            try:
                crops.append(center_crop(resize_for_network(load_image(path))))
            except ImageLoadError as error:
                print(f"skipped {error}", file=sys.stderr)
        if not crops:
            continue
        batch = np.stack(crops)
        for unit in set(units):
            values = maker.measure(batch, [unit] * len(batch))
            best[unit] = max(best[unit], float(values.max()))
    return {unit: (value if np.isfinite(value) else None) for unit, value in best.items()}
