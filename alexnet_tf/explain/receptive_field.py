"""Where a conv unit looks: the receptive field of a position of conv1..conv5, in pixels.

Each spatial layer of AlexNet (kernel ``k``, stride ``s``, padding ``p``; Caffe's
deploy.prototxt) maps a range ``[a, b]`` of its output positions to the range
``[a*s - p, b*s - p + k - 1]`` of its input; chaining the layers from the unit down to the
image gives the pixels of the 227x227 crop that can affect it (conv1: 11x11, conv5: 163x163,
clipped at the crop's edges). The crop sits at offset 14 of the 256x256 warp of the original
image (``preprocess``), so a box in the original is that range scaled by width/256 and
height/256. LRN layers are per position and do not widen the field.
"""

from __future__ import annotations

from ..preprocess import CROP, CROP_OFFSET, RESIZE

# (name, kernel, stride, padding) from the input up, as the BVLC model (alexnet-facts.md).
_SPATIAL_LAYERS = (
    ("conv1", 11, 4, 0),
    ("pool1", 3, 2, 0),
    ("conv2", 5, 1, 2),
    ("pool2", 3, 2, 0),
    ("conv3", 3, 1, 1),
    ("conv4", 3, 1, 1),
    ("conv5", 3, 1, 1),
)
CONV_LAYERS = ("conv1", "conv2", "conv3", "conv4", "conv5")


def crop_range(layer: str, index: int) -> tuple[int, int]:
    """The first and last pixel (inclusive) of the 227 crop seen by position ``index`` of
    ``layer`` along one axis, clipped to the crop.

    Raises:
        ValueError: ``layer`` is not conv1..conv5.
    """
    names = [name for name, *_ in _SPATIAL_LAYERS]
    if layer not in CONV_LAYERS:
        raise ValueError(f"layer must be one of {CONV_LAYERS}. Received: layer={layer!r}")
    first = last = index
    for _, kernel, stride, padding in reversed(_SPATIAL_LAYERS[: names.index(layer) + 1]):
        first, last = first * stride - padding, last * stride - padding + kernel - 1
    return max(first, 0), min(last, CROP - 1)


def crop_box(layer: str, row: int, col: int) -> tuple[int, int, int, int]:
    """``(left, top, right, bottom)`` of ``layer``'s position ``(row, col)`` in the 227 crop,
    as Pillow's crop box (right and bottom exclusive)."""
    left, right = crop_range(layer, col)
    top, bottom = crop_range(layer, row)
    return left, top, right + 1, bottom + 1


def to_original(box, width: int, height: int) -> list[int]:
    """A crop box in the original image's pixels (``width`` x ``height``), through the warp
    to 256x256 (each 256-pixel covers width/256 original pixels), widened to whole pixels."""
    left, top, right, bottom = box
    # Integer arithmetic: width / 256 in floating point would put 28.000000001 on a pixel edge.
    return [
        (left + CROP_OFFSET) * width // RESIZE,
        (top + CROP_OFFSET) * height // RESIZE,
        min(width, -(-(right + CROP_OFFSET) * width // RESIZE)),
        min(height, -(-(bottom + CROP_OFFSET) * height // RESIZE)),
    ]


def original_box(layer: str, row: int, col: int, width: int, height: int) -> list[int]:
    """``[left, top, right, bottom]`` in the original image's pixels of what ``layer``'s
    position ``(row, col)`` sees (right and bottom exclusive)."""
    return to_original(crop_box(layer, row, col), width, height)
