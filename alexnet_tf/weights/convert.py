"""One converter and validator for every source of ImageNet weights.

Importers hand over ``{layer: (kernel, bias)}``; what leaves here is float32 in Keras layout
(conv ``(kh, kw, in/groups, out)``, dense ``(in, out)``, fc6 rows in NHWC-flatten order),
checked against AlexNet's shapes so a wrong file is refused with a message naming the file,
the layer and both shapes, before anything is installed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import WeightsError

# Keras shapes of the BVLC model (see alexnet-facts.md); conv kernels (kh, kw, in/groups, out).
CONV_KERNEL_SHAPES = {
    "conv1": (11, 11, 3, 96),
    "conv2": (5, 5, 48, 256),
    "conv3": (3, 3, 256, 384),
    "conv4": (3, 3, 192, 384),
    "conv5": (3, 3, 192, 256),
}
# pool5's output, which fc6 reads: Caffe flattens it as (C, H, W), Keras as (H, W, C).
POOL5_CHW = (256, 6, 6)
WEIGHT_LAYERS = ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8")


def expected_shapes(num_classes: int = 1000) -> dict[str, tuple[tuple, tuple]]:
    """``{layer: (kernel_shape, bias_shape)}`` of AlexNet in Keras layout."""
    shapes = {name: (shape, (shape[-1],)) for name, shape in CONV_KERNEL_SHAPES.items()}
    shapes["fc6"] = ((int(np.prod(POOL5_CHW)), 4096), (4096,))
    shapes["fc7"] = ((4096, 4096), (4096,))
    shapes["fc8"] = ((4096, num_classes), (num_classes,))
    return shapes


def check_keras_weights(arrays: dict, source: str | Path, num_classes: int = 1000) -> dict:
    """Validate Keras-layout weights and return them as contiguous float32.

    Args:
        arrays: ``{layer: (kernel, bias)}`` for every name in ``WEIGHT_LAYERS``.
        source: the file they came from, named in error messages.
        num_classes: size of fc8.

    Returns:
        ``{layer: (kernel, bias)}`` with float32, C-contiguous arrays.

    Raises:
        WeightsError: a layer is missing, has the wrong shape, or holds NaN or infinity.
    """
    missing = [name for name in WEIGHT_LAYERS if name not in arrays]
    if missing:
        raise WeightsError(
            f"{source}: not AlexNet weights: layer(s) {', '.join(missing)} missing "
            f"(found: {', '.join(sorted(map(str, arrays))) or 'nothing'})."
        )
    checked = {}
    for name, (kernel_shape, bias_shape) in expected_shapes(num_classes).items():
        pair = arrays[name]
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise WeightsError(
                f"{source}: layer {name} should hold [kernel, bias]; it holds {_describe(pair)}."
            )
        arrays_in_pair = [a for a in pair if isinstance(a, np.ndarray)]
        if len(arrays_in_pair) != 2:  # e.g. a list of lists, which np.asarray may reject
            raise WeightsError(
                f"{source}: layer {name} should hold two arrays [kernel, bias]; it holds "
                f"{', '.join(_describe(a) for a in pair)}."
            )
        kernel, bias = arrays_in_pair
        for role, array, shape in (("kernel", kernel, kernel_shape), ("bias", bias, bias_shape)):
            if array.shape != shape:
                raise WeightsError(
                    f"{source}: layer {name} {role} has shape {array.shape}; "
                    f"AlexNet needs {shape}. This is not the BVLC AlexNet (or the file is damaged)."
                )
            if array.dtype.kind != "f":
                raise WeightsError(
                    f"{source}: layer {name} {role} holds {array.dtype} values; floats expected."
                )
        kernel = np.ascontiguousarray(kernel, dtype=np.float32)
        bias = np.ascontiguousarray(bias, dtype=np.float32)
        if not (np.isfinite(kernel).all() and np.isfinite(bias).all()):
            raise WeightsError(f"{source}: layer {name} holds NaN or infinite values.")
        checked[name] = (kernel, bias)
    return checked


def caffe_to_keras(blobs: dict, source: str | Path, num_classes: int = 1000) -> dict:
    """Convert Caffe-layout weights to Keras layout and validate them.

    Caffe stores conv kernels as ``(out, in/groups, kh, kw)`` and InnerProduct weights as
    ``(out, in)``; fc6's input columns follow pool5 flattened in (C, H, W) order, while the
    Keras model flattens (H, W, C), so fc6's columns are permuted.

    Args:
        blobs: ``{layer: (weights, bias)}`` as stored by Caffe (extra leading 1-sized axes of
            old-style blobs are tolerated).
        source: the file they came from, named in error messages.
        num_classes: size of fc8.

    Returns:
        Validated Keras weights, as ``check_keras_weights`` returns them.
    """
    converted = {}
    for name, pair in blobs.items():
        if name not in WEIGHT_LAYERS:
            continue
        if len(pair) != 2:
            raise WeightsError(
                f"{source}: layer {name} should hold a weight and a bias blob; "
                f"it holds {len(pair)}."
            )
        weights, bias = pair
        bias = bias.reshape(-1)
        if name.startswith("conv"):
            weights = _squeeze_to(weights, 4, source, name)
            kernel = weights.transpose(2, 3, 1, 0)
        else:
            weights = _squeeze_to(weights, 2, source, name)
            if name == "fc6":
                outputs, inputs = weights.shape
                if inputs != int(np.prod(POOL5_CHW)):
                    raise WeightsError(
                        f"{source}: layer fc6 weights have shape {weights.shape}; AlexNet needs "
                        f"(4096, {int(np.prod(POOL5_CHW))})."
                    )
                weights = weights.reshape(outputs, *POOL5_CHW).transpose(0, 2, 3, 1)
                weights = weights.reshape(outputs, inputs)
            kernel = weights.T
        converted[name] = (kernel, bias)
    return check_keras_weights(converted, source, num_classes)


def _squeeze_to(array: np.ndarray, ndim: int, source, name: str) -> np.ndarray:
    """Drop leading axes of size 1 (old blobs are always 4-D: (1, 1, out, in) for fc)."""
    while array.ndim > ndim and array.shape[0] == 1:
        array = array[0]
    if array.ndim != ndim:
        raise WeightsError(
            f"{source}: layer {name} weights have shape {array.shape}; "
            f"a {ndim}-D blob was expected."
        )
    return array


def _describe(value) -> str:
    if isinstance(value, (list, tuple)):
        return f"{len(value)} item(s)"
    return f"a {type(value).__name__}"
