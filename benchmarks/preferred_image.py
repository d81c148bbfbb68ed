"""Preferred images at default settings: seconds per unit, and how far each beats real photos.

Run from the repository root::

    python benchmarks/preferred_image.py [--layer conv5] [--units 0-8] [--photos 30]

For the nine units of a row it runs one batched optimisation (each image maximising its own
unit) and one run of the first unit alone, then prints, per unit, the activation its image
reaches (measured on the rounded PNG pixels) against the unit's maximum over ``--photos``
centre crops of real photographs (the test suite's folders: random crops of the photos that
scikit-learn and scikit-image ship). The model is the installed ImageNet model if there is
one, else synthetic weights at a trained network's scale (``tests/synthetic_weights.py``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import cpu_line, markdown_table, quiet_tensorflow, scratch_folder  # noqa: E402


def _units(text: str) -> list[int]:
    if "-" in text:
        first, last = (int(part) for part in text.split("-"))
        return list(range(first, last + 1))
    return [int(part) for part in text.split(",")]


def _model(scratch: Path):
    from alexnet_tf.model import build_alexnet
    from alexnet_tf.weights.store import load_imagenet_model, weights_installed

    if weights_installed():
        return load_imagenet_model(), "installed ImageNet weights"
    from tests.synthetic_weights import install_synthetic_imagenet_weights

    model = build_alexnet(dropout=0)
    model.load_weights(install_synthetic_imagenet_weights(scratch))
    return model, "synthetic weights (no ImageNet weights installed)"


def _photo_crops(scratch: Path, count: int):
    import numpy as np

    from alexnet_tf.images import load_image
    from alexnet_tf.preprocess import center_crop, resize_for_network
    from tests.photo_folders import make_photo_folder

    folders = [make_photo_folder(scratch / name, name, per_class=5, bad_files=False)["root"]
               for name in ("scenes", "subjects")]  # fmt: skip
    files = sorted(p for folder in folders for p in folder.rglob("*.*"))[:count]
    return np.stack([center_crop(resize_for_network(load_image(path))) for path in files])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layer", default="conv5")
    parser.add_argument("--units", type=_units, default=list(range(9)))
    parser.add_argument("--photos", type=int, default=30)
    args = parser.parse_args()
    quiet_tensorflow()
    from alexnet_tf.explain.preferred import PreferredImageMaker, settings_for

    scratch = scratch_folder("preferred-bench-")
    model, source = _model(scratch)
    crops = _photo_crops(scratch, args.photos)
    maker = PreferredImageMaker(model, args.layer)
    settings = settings_for(args.layer)
    maker.make(args.units[:1], replace(settings, steps=2))  # trace the step once, untimed

    started = time.perf_counter()
    batch = maker.make(args.units, settings)
    batch_seconds = time.perf_counter() - started
    started = time.perf_counter()
    alone = maker.make(args.units[:1], settings)[0]
    alone_seconds = time.perf_counter() - started

    rows = []
    for image in batch:
        best = float(maker.measure(crops, [image.unit] * len(crops)).max())
        ratio = f"{image.activation / best:.1f}x" if best > 0 else "- (photos <= 0)"
        rows.append([image.unit, f"{image.activation:.3f}", f"{best:.3f}", ratio])
    print(f"{args.layer}, {settings.steps} steps, model: {source}; {len(crops)} photos")
    print(cpu_line())
    print()
    print(
        markdown_table(["unit", "preferred image", f"best of {len(crops)} photos", "ratio"], rows)
    )
    print()
    print(
        markdown_table(
            ["run", "units", "seconds", "seconds per unit"],
            [
                [
                    "batched",
                    len(batch),
                    f"{batch_seconds:.1f}",
                    f"{batch_seconds / len(batch):.1f}",
                ],
                ["alone", 1, f"{alone_seconds:.1f}", f"{alone_seconds:.1f}"],
            ],
        )
    )
    print(f"\nunit {alone.unit} alone reaches {alone.activation:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
