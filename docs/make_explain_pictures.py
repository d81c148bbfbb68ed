"""Regenerate the pictures of docs/explain.md (docs/explain/*.png).

    python docs/make_explain_pictures.py

Synthetic stand-in "ImageNet" weights at a trained network's scale (tests/synthetic_weights.py)
unless real ImageNet weights are installed in ALEXNET_STUDIO_HOME; a photo scikit-learn ships.
"""

from __future__ import annotations

import os
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
OUT = ROOT / "docs" / "explain"
LABEL = 16


def labelled(pictures, labels) -> np.ndarray:
    """Pictures side by side, each with a caption above it."""
    size = pictures[0].shape[0]
    sheet = Image.new("RGB", (len(pictures) * (size + 4) - 4, size + LABEL), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for k, (picture, label) in enumerate(zip(pictures, labels, strict=True)):
        sheet.paste(Image.fromarray(picture), (k * (size + 4), LABEL))
        draw.text((k * (size + 4) + 2, 2), label, fill=(0, 0, 0))
    return np.asarray(sheet)


def stacked(rows) -> np.ndarray:
    width = max(row.shape[1] for row in rows)
    padded = [
        np.pad(r, ((0, 6), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows
    ]
    return np.concatenate(padded)


def main() -> int:
    from alexnet_tf.weights.store import load_imagenet_model, weights_installed

    if weights_installed():
        model = load_imagenet_model()
    else:
        from alexnet_tf.model import build_alexnet
        from tests.synthetic_weights import install_synthetic_imagenet_weights

        model = build_alexnet(dropout=0)
        model.load_weights(install_synthetic_imagenet_weights(Path(tempfile.mkdtemp())))
    from alexnet_tf.explain.attribution import (
        UnitAttribution,
        attribution_image,
        heat_over_crop,
        occlusion_map,
        probability_function,
    )
    from alexnet_tf.explain.preferred import PreferredImageMaker, save_rgb_png, settings_for
    from alexnet_tf.images import load_image
    from alexnet_tf.preprocess import center_crop, normalize, resize_for_network
    from tests.photos import sample_photo

    OUT.mkdir(parents=True, exist_ok=True)
    crop = center_crop(resize_for_network(load_image(sample_photo("china.jpg"))))

    # 1. The recipe, step by step, on conv5 units.
    maker = PreferredImageMaker(model, "conv5")
    units = [0, 1, 2]
    default = settings_for("conv5")
    recipes = [
        ("plain", replace(default, jitter=0, decay=0.0, blur_every=0, clip_percentile=0)),
        ("jitter", replace(default, decay=0.0, blur_every=0, clip_percentile=0)),
        ("default", default),  # jitter, decay, blur, weak-pixel clipping
    ]
    rows = []
    for name, settings in recipes:
        images = maker.make(units, settings)
        captions = [f"{name}: unit {i.unit} at {i.activation:.1f}" for i in images]
        rows.append(labelled([i.rgb for i in images], captions))
    save_rgb_png(stacked(rows), OUT / "recipe.png")

    # 2. Default images of three units of several layers.
    rows = []
    for layer in ("conv1", "conv2", "conv3", "fc8"):
        images = PreferredImageMaker(model, layer).make([0, 1, 2], settings_for(layer))
        rows.append(labelled([i.rgb for i in images], [f"{layer} unit {i.unit}" for i in images]))
    save_rgb_png(stacked(rows), OUT / "layers.png")

    # 3. Attribution of conv5's strongest channel on the photo, three backward rules.
    from alexnet_tf.forward import CompiledForward

    maps = CompiledForward(model, ("conv5",))(normalize(crop)[None])["conv5"][0]
    strongest = int(maps.max(axis=(0, 1)).argmax())
    pictures, labels = [crop], ["the crop"]
    for method in ("gradient", "deconvnet", "guided"):
        result = UnitAttribution(model, "conv5", method)(normalize(crop), strongest)
        pictures.append(attribution_image(result.gradient))
        labels.append(f"{method}, conv5 unit {strongest}")
    save_rgb_png(labelled(pictures, labels), OUT / "attribution.png")

    # 4. Occlusion of the top class.
    probabilities = probability_function(model)
    top = int(probabilities(normalize(crop)[None])[0].argmax())
    result = occlusion_map(probabilities, normalize(crop), top)
    picture = heat_over_crop(crop, result.pixel_map())
    save_rgb_png(labelled([crop, picture], ["the crop", f"occlusion, class {top}"]),
                 OUT / "occlusion.png")  # fmt: skip
    for name in ("recipe", "layers", "attribution", "occlusion"):
        print("wrote", OUT / f"{name}.png")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.exit(main())
