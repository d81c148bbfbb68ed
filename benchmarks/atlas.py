"""The unit atlas against classification: the same photos, the same model, both timed.

Run from the repository root::

    python benchmarks/atlas.py [--images 1000] [--rounds 2]

It writes ``--images`` real photos (crops of the photographs scikit-learn and scikit-image
ship, ``tests/photo_folders.py``, about 400 pixels wide, as JPEG and PNG), installs synthetic
weights at a trained network's activation scale (``tests/synthetic_weights.py``; ImageNet
weights are not downloaded by benchmarks) into a temporary data folder, then times, in
alternating rounds:

- classify: what ``alexnet-studio classify FOLDER`` does per batch (decode in two threads,
  warp, top-5 of each image);
- atlas: ``explain.atlas.build_atlas`` for all eight layers, top 9 (no cache).

Both include decoding. The target is atlas <= 1.5x classify and a peak resident memory under
2 GB; the peak is the process's (``ru_maxrss``) after each phase, so the atlas's own share is
the rise it causes.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import (  # noqa: E402
    machine_header,
    markdown_table,
    median,
    quiet_tensorflow,
    scratch_folder,
)

quiet_tensorflow()


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def write_photos(root: Path, count: int) -> Path:
    from tests.photo_folders import make_photo_folder

    per_folder = -(-count // 2)
    for name in ("scenes", "subjects"):  # 7 photographs; class sub-folders like a user's
        classes = 3 if name == "scenes" else 4
        make_photo_folder(root / name, name, per_class=-(-per_folder // classes), size=400,
                          seed=len(name), bad_files=False)  # fmt: skip
    files = sorted(p for p in root.rglob("*") if p.is_file())
    for extra in files[count:]:
        extra.unlink()
    return root


def classify_folder(classifier, folder: Path) -> int:
    """As ``alexnet-studio classify FOLDER``: decode ahead, top-5 per batch."""
    from PIL import Image

    from alexnet_tf.batches import iter_loaded_chunks
    from alexnet_tf.images import find_image_files

    files, _ = find_image_files(folder)
    done = 0
    for loaded in iter_loaded_chunks([(path, None) for path in files], 32):
        images = [Image.fromarray(item.resized) for item in loaded if item.error is None]
        done += len(classifier.classify_batch(images, top=5))
    return done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    home = scratch_folder("atlas-bench-home-")
    os.environ["ALEXNET_STUDIO_HOME"] = str(home)
    from tests.synthetic_weights import install_synthetic_imagenet_weights

    install_synthetic_imagenet_weights(home)
    folder = write_photos(scratch_folder("atlas-bench-photos-"), args.images)
    count = sum(1 for p in folder.rglob("*") if p.is_file())

    from alexnet_tf.explain.atlas import BATCH_SIZE, build_atlas
    from alexnet_tf.inference import Classifier

    classifier = Classifier.load(None)
    header = machine_header()
    # Warm-up on 40 photos: compiles both passes for batches of 32 and of 8 (the last one).
    warm = write_photos(scratch_folder("atlas-bench-warm-"), 40)
    classify_folder(classifier, warm)
    build_atlas(classifier, warm)
    rss_before = peak_rss_mb()
    times = {"classify": [], "atlas (8 layers, top 9)": []}
    peaks = {}
    for _ in range(args.rounds):
        started = time.perf_counter()
        classify_folder(classifier, folder)
        times["classify"].append(time.perf_counter() - started)
        peaks["classify"] = peak_rss_mb()
        started = time.perf_counter()
        build_atlas(classifier, folder)
        times["atlas (8 layers, top 9)"].append(time.perf_counter() - started)
        peaks["atlas (8 layers, top 9)"] = peak_rss_mb()
    base = median(times["classify"])
    rows = [
        [name, f"{median(t):.1f}", f"{count / median(t):.1f}", f"{median(t) / base:.2f}x",
         f"{peaks[name]:.0f}"]
        for name, t in times.items()
    ]  # fmt: skip
    print(f"## Unit atlas vs classify: {count} photos, batch {BATCH_SIZE}\n")
    print(header)
    print(f"- peak RSS after warm-up: {rss_before:.0f} MB\n")
    print(markdown_table(
        ["pass", "seconds (median)", "images/s", "vs classify", "peak RSS after (MB)"], rows
    ))  # fmt: skip


if __name__ == "__main__":
    main()
