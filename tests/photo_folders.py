"""Dataset folders of real photos, for tests and benchmarks that claim the network *learns*.

Synthetic stripes and blobs are too easy to tell anything about fine-tuning. These folders are
made of random crops of the photographs that scikit-learn and scikit-image ship in their wheels
(nothing is downloaded): each class is one photograph (or one texture), each image a crop at a
random place, scale and aspect, mirrored or not, with its brightness and contrast jittered,
resized and saved as JPEG (or PNG) at a random quality. Crops overlap only partly, so a class
is "what this scene looks like from anywhere in it", which a network recognises from its
features, not from a single pixel statistic.

``PHOTO_FOLDERS`` names three folders of increasing difficulty; ``make_photo_folder`` writes one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance


def _sklearn(name: str) -> np.ndarray:
    from sklearn.datasets import load_sample_image

    return load_sample_image(name)


def _skimage(name: str) -> np.ndarray:
    import skimage.data

    pixels = getattr(skimage.data, name)()
    if pixels.ndim == 2:  # the textures are greyscale
        pixels = np.repeat(pixels[:, :, None], 3, axis=2)
    return pixels


# folder name -> class name -> the photograph it is cropped from
PHOTO_FOLDERS = {
    # three very different scenes: a temple, a flower, a cup of coffee
    "scenes": {
        "coffee": lambda: _skimage("coffee"),
        "flower": lambda: _sklearn("flower.jpg"),
        "temple": lambda: _sklearn("china.jpg"),
    },
    # four photos with people, animals, machines and cells
    "subjects": {
        "astronaut": lambda: _skimage("astronaut"),
        "cat": lambda: _skimage("chelsea"),
        "rocket": lambda: _skimage("rocket"),
        "tissue": lambda: _skimage("immunohistochemistry"),
    },
    # three grey textures: the hardest, since colour says nothing
    "textures": {
        "brick": lambda: _skimage("brick"),
        "grass": lambda: _skimage("grass"),
        "gravel": lambda: _skimage("gravel"),
    },
}


def random_crop(photo: np.ndarray, rng: np.random.Generator, size: int) -> Image.Image:
    """One crop of ``photo``: 30-70% of its short side, aspect 3:4 to 4:3, jittered."""
    height, width = photo.shape[:2]
    side = rng.uniform(0.3, 0.7) * min(height, width)
    aspect = rng.uniform(0.75, 4 / 3)
    crop_h = int(min(height, side / np.sqrt(aspect)))
    crop_w = int(min(width, side * np.sqrt(aspect)))
    top = int(rng.integers(0, height - crop_h + 1))
    left = int(rng.integers(0, width - crop_w + 1))
    image = Image.fromarray(np.ascontiguousarray(photo[top : top + crop_h, left : left + crop_w]))
    if rng.random() < 0.5:
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    image = ImageEnhance.Brightness(image).enhance(rng.uniform(0.8, 1.2))
    image = ImageEnhance.Contrast(image).enhance(rng.uniform(0.8, 1.2))
    out_w = int(size * rng.uniform(0.8, 1.2))
    out_h = int(out_w * crop_h / crop_w)
    return image.resize((out_w, out_h), Image.Resampling.BILINEAR)


def make_photo_folder(
    root: str | Path, name: str = "scenes", per_class: int = 40, size: int = 160, seed: int = 0,
    bad_files: bool = True,
) -> dict:  # fmt: skip
    """Write ``root/<class>/<crop>.jpg`` for the folder ``name`` of PHOTO_FOLDERS.

    Args:
        root: the folder to create; it may exist but should be empty.
        name: one of PHOTO_FOLDERS.
        per_class: images per class.
        size: about the width of each image in pixels.
        seed: the same arguments write the same files.
        bad_files: also write a truncated JPEG and a text file named .jpg in the first class,
            as a user's folder has (the scan refuses both).

    Returns:
        ``root`` (Path), ``classes`` (sorted names), ``num_images`` (good images).
    """
    if name not in PHOTO_FOLDERS:
        raise ValueError(f"name must be one of {sorted(PHOTO_FOLDERS)}. Received: {name=}")
    root = Path(root)
    rng = np.random.default_rng(seed)
    classes = sorted(PHOTO_FOLDERS[name])
    for label in classes:
        photo = PHOTO_FOLDERS[name][label]()
        folder = root / label
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            image = random_crop(photo, rng, size)
            if i % 7 == 6:
                image.save(folder / f"{label}_{i:03d}.png")
            else:
                image.save(folder / f"{label}_{i:03d}.jpg", quality=int(rng.integers(70, 96)))
    if bad_files:
        first = root / classes[0]
        data = (first / f"{classes[0]}_000.jpg").read_bytes()
        (first / "truncated.jpg").write_bytes(data[: len(data) // 2])
        (first / "notes.jpg").write_text("not an image\n", encoding="utf-8")
    return {"root": root, "classes": classes, "num_images": per_class * len(classes)}
