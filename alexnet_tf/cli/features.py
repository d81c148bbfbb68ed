"""``alexnet-studio features IMAGE --layer NAME --out PNG`` and ``features --filters --out PNG``."""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import ModelLoadError, WeightsNotInstalledError
from .arguments import add_model_argument

# Kept in step with alexnet_tf.model.NAMED_LAYERS (checked by the tests); repeated here so
# that --help does not import TensorFlow.
LAYER_NAMES = (
    "conv1", "norm1", "pool1", "conv2", "norm2", "pool2",
    "conv3", "conv4", "conv5", "pool5", "fc6", "fc7", "fc8",
)  # fmt: skip


def register(subparsers) -> None:
    """Add the ``features`` command."""
    parser = subparsers.add_parser(
        "features",
        help="draw a layer's feature maps for an image, or conv1's filters, as a PNG",
        description="Draw every channel of one layer's output for IMAGE as a labelled grid "
        "(fc layers as a strip of units), or with --filters the 96 filters of conv1 "
        "in the two groups the paper trained on two GPUs.",
    )
    parser.add_argument("image", nargs="?", type=Path, metavar="IMAGE")
    parser.add_argument("--layer", choices=LAYER_NAMES, metavar="NAME", help=", ".join(LAYER_NAMES))
    parser.add_argument("--filters", action="store_true", help="draw conv1's filters instead")
    parser.add_argument("--out", type=Path, required=True, metavar="PNG", help="the PNG to write")
    add_model_argument(parser)
    parser.add_argument("--columns", type=int, metavar="N", help="tiles per row")
    parser.add_argument(
        "--unit", type=int, metavar="U", help="with --attribution: the channel or unit to explain"
    )
    parser.add_argument(
        "--attribution",
        choices=("guided", "deconvnet"),
        nargs="?",
        const="guided",
        help="instead of the grid, draw which pixels made --unit fire at its strongest position "
        "(guided backpropagation, the default, or deconvnet)",
    )
    parser.set_defaults(handler=run_features, parser=parser, runs_model=True)


def run_features(args) -> int:
    """Render the requested picture; return the exit status."""
    parser = args.parser
    if args.filters and (args.image is not None or args.layer is not None):
        parser.error("--filters draws the model's filters: give no IMAGE and no --layer")
    if not args.filters and (args.image is None or args.layer is None):
        parser.error("give IMAGE and --layer NAME, or --filters")
    if args.out.suffix.lower() != ".png":
        parser.error(f"--out must name a .png file. Received: {args.out}")
    if (args.attribution is None) != (args.unit is None) or (args.attribution and args.filters):
        parser.error("--attribution and --unit go together, with IMAGE and --layer")
    if args.columns is not None and args.columns < 1:
        parser.error(f"--columns must be a positive integer. Received: {args.columns}")

    from ..destinations import check_file_destination, writing

    check_file_destination(args.out)
    from ..weights.store import weights_installed

    if args.model is None and not weights_installed():
        print(f"error: {WeightsNotInstalledError()}", file=sys.stderr)
        return 2
    image = None
    if not args.filters:
        from ..images import load_image

        image = load_image(args.image)  # ImageLoadError -> "error: PATH: reason", status 1
    from ..inference import Classifier
    from ..render import render_feature_grid, render_filters, save_png

    try:
        classifier = Classifier.load(args.model)
    except (WeightsNotInstalledError, ModelLoadError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    if args.filters:
        kernel = classifier.model.get_layer("conv1").kernel.numpy()
        with writing(args.out):
            save_png(render_filters(kernel), args.out)
        print(f"Wrote {args.out}: conv1's {kernel.shape[-1]} filters of {classifier.name}")
        return 0

    analysis = classifier.analyze(image, top=1)
    if args.attribution:
        return _write_attribution(args, classifier, analysis)
    activation = analysis.activations[args.layer]
    shape = "x".join(map(str, activation.shape[:-1])) if activation.ndim == 3 else "vector"
    count = activation.shape[-1]
    unit = "channels" if activation.ndim == 3 else "units"
    title = f"{args.layer} of {args.image.name}: {count} {unit}, {shape}"
    with writing(args.out):
        save_png(render_feature_grid(activation, title=title, columns=args.columns), args.out)
    best = analysis.predictions[0]
    print(f"Wrote {args.out}: {title} (top class: {best.label}, {best.probability:.1%})")
    return 0


def _write_attribution(args, classifier, analysis) -> int:
    from ..explain.attribution import UnitAttribution, attribution_image
    from ..preprocess import normalize
    from ..render import save_png

    try:
        attribution = UnitAttribution(classifier.model, args.layer, args.attribution)
        result = attribution(normalize(analysis.crop_rgb), args.unit)
    except ValueError as error:
        args.parser.error(str(error))
    save_png(attribution_image(result.gradient), args.out)
    where = "" if result.position is None else " at row {}, column {}".format(*result.position)
    print(
        f"Wrote {args.out}: {args.attribution} attribution of {args.layer} unit {args.unit} "
        f"of {args.image.name} ({result.value:.4g}{where})"
    )
    return 0
