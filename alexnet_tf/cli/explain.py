"""``alexnet-studio explain IMAGE (--class K | --top N) --method gradcam|occlusion --out PNG``.

Also the helpers the other explanation commands (``visualize``, ``summary``, ``features
--attribution``) share: loading the chosen model with the CLI's usual messages.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import ModelLoadError, WeightsNotInstalledError
from ..fileio import json_text
from .arguments import add_model_argument

METHODS = ("gradcam", "occlusion")


def register(subparsers) -> None:
    """Add the ``explain`` command."""
    parser = subparsers.add_parser(
        "explain",
        help="draw where a class's evidence is in an image (Grad-CAM or occlusion) as a PNG",
        description="Draw a map over the 227x227 crop the network sees: gradcam weighs conv5's "
        "maps by the class score's gradient; occlusion slides a grey square over the crop and "
        "maps the drop in the class's probability (Zeiler & Fergus). Give the class by index "
        "(--class) or by rank in the image's predictions (--top, default 1).",
    )
    parser.add_argument("image", type=Path, metavar="IMAGE")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--class", dest="class_index", type=int, metavar="K", help="class index")
    which.add_argument("--top", type=int, default=1, metavar="N", help="the N-th best class")
    parser.add_argument("--method", choices=METHODS, default="gradcam")
    parser.add_argument("--out", type=Path, required=True, metavar="PNG", help="the PNG to write")
    add_model_argument(parser)
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")
    parser.set_defaults(handler=run_explain, parser=parser, runs_model=True)


def load_classifier(model_spec):
    """The chosen model, or None after printing why not (the caller exits with status 2)."""
    from ..weights.store import weights_installed

    if model_spec is None and not weights_installed():
        print(f"error: {WeightsNotInstalledError()}", file=sys.stderr)
        return None
    from ..inference import Classifier

    try:
        return Classifier.load(model_spec)
    except (WeightsNotInstalledError, ModelLoadError) as error:
        print(f"error: {error}", file=sys.stderr)
        return None


def check_png(parser: argparse.ArgumentParser, out: Path) -> None:
    if out.suffix.lower() != ".png":
        parser.error(f"--out must name a .png file. Received: {out}")


def run_explain(args) -> int:
    """Compute the class map and write it; return the exit status."""
    check_png(args.parser, args.out)
    if args.class_index is None and args.top < 1:
        args.parser.error(f"--top must be a positive integer. Received: {args.top}")
    from ..images import load_image

    image = load_image(args.image)  # ImageLoadError -> "error: PATH: reason", status 1
    classifier = load_classifier(args.model)
    if classifier is None:
        return 2
    analysis = classifier.analyze(image, top=max(args.top, 5))
    if args.class_index is None:
        if args.top > len(analysis.predictions):
            args.parser.error(f"--top: the model has {classifier.num_classes} classes")
        class_index = analysis.predictions[args.top - 1].index
    else:
        class_index = args.class_index
        if not 0 <= class_index < classifier.num_classes:
            args.parser.error(
                f"--class must be in [0, {classifier.num_classes}). Received: {class_index}"
            )
    from ..explain.attribution import heat_over_crop, occlusion_map, probability_function
    from ..preprocess import normalize
    from ..render import save_png

    preprocessed = normalize(analysis.crop_rgb)
    result = {"image": str(args.image), "method": args.method, "class_index": class_index}
    result["label"] = classifier.labels[class_index]
    if args.method == "gradcam":
        from ..gradcam import GradCam

        heat = GradCam(classifier.model)(preprocessed, class_index)
    else:
        occlusion = occlusion_map(probability_function(classifier.model), preprocessed, class_index)
        result.update(occlusion.to_dict())
        heat = occlusion.pixel_map()
    save_png(heat_over_crop(analysis.crop_rgb, heat), args.out)
    result["out"] = str(args.out)
    if args.json:
        print(json_text(result))
    else:
        what = "Grad-CAM" if args.method == "gradcam" else "occlusion sensitivity"
        print(f"Wrote {args.out}: {what} of {result['label']} (class {class_index})")
    return 0
