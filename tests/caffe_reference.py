"""An independent AlexNet forward pass in plain NumPy, written from the Caffe definition.

It uses nothing from the project: Caffe's own layouts and conventions throughout (NCHW
activations, weights ``(out, in/groups, kh, kw)`` and ``(out, in)``, grouped convolution,
LRN with ``alpha / local_size``, pooling with Caffe's ceil rounding, fc6 on pool5 flattened
in C, H, W order), computed in float64. Tests compare the Keras model with imported weights
against it, which checks every layout conversion at once.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

# (name, stride, pad, groups) of the conv layers in deploy.prototxt
CONVOLUTIONS = {
    "conv1": (4, 0, 1),
    "conv2": (1, 2, 2),
    "conv3": (1, 1, 1),
    "conv4": (1, 1, 2),
    "conv5": (1, 1, 2),
}
LRN_LOCAL_SIZE, LRN_ALPHA, LRN_BETA, LRN_K = 5, 1e-4, 0.75, 1.0


def convolution(x, weights, bias, stride, pad, groups):
    """Caffe Convolution on one CHW image: ``weights`` is ``(out, in/groups, kh, kw)``."""
    out_channels, group_in, kh, kw = weights.shape
    x = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))
    windows = sliding_window_view(x, (kh, kw), axis=(1, 2))[:, ::stride, ::stride]
    _, out_h, out_w, _, _ = windows.shape
    group_out = out_channels // groups
    outputs = []
    for g in range(groups):
        patch = windows[g * group_in : (g + 1) * group_in]  # (in/g, oh, ow, kh, kw)
        columns = patch.transpose(0, 3, 4, 1, 2).reshape(group_in * kh * kw, out_h * out_w)
        w = weights[g * group_out : (g + 1) * group_out].reshape(group_out, -1)
        outputs.append(w @ columns)
    return np.concatenate(outputs).reshape(out_channels, out_h, out_w) + bias[:, None, None]


def relu(x):
    return np.maximum(x, 0)


def lrn(x):
    """Caffe LRN ACROSS_CHANNELS: ``x / (k + alpha/n * sum_{window of n} x^2) ** beta``."""
    half = (LRN_LOCAL_SIZE - 1) // 2
    squares = np.pad(x * x, ((half, half), (0, 0), (0, 0)))
    window_sum = sum(squares[i : i + x.shape[0]] for i in range(LRN_LOCAL_SIZE))
    return x / (LRN_K + LRN_ALPHA / LRN_LOCAL_SIZE * window_sum) ** LRN_BETA


def max_pool(x, size=3, stride=2):
    """Caffe MAX pooling without padding; output size rounds up, windows clipped at the edge."""
    channels, height, width = x.shape
    out_h = math.ceil((height - size) / stride) + 1
    out_w = math.ceil((width - size) / stride) + 1
    out = np.empty((channels, out_h, out_w), x.dtype)
    for i in range(out_h):
        for j in range(out_w):
            window = x[:, i * stride : i * stride + size, j * stride : j * stride + size]
            out[:, i, j] = window.max(axis=(1, 2))
    return out


def alexnet_forward(image_chw, weights):
    """Run AlexNet on one preprocessed image, Caffe style.

    Args:
        image_chw: ``(3, 227, 227)`` preprocessed image (BGR, mean subtracted).
        weights: ``{layer: (W, b)}`` in Caffe layout.

    Returns:
        ``{layer: activation}`` for conv1..conv5 (after ReLU), pool5, fc6, fc7 (after ReLU)
        and fc8 (the softmax input), float64.
    """
    out = {}
    x = np.asarray(image_chw, np.float64)

    def conv(name, x):
        stride, pad, groups = CONVOLUTIONS[name]
        w, b = (np.asarray(a, np.float64) for a in weights[name])
        out[name] = relu(convolution(x, w, b, stride, pad, groups))
        return out[name]

    x = max_pool(lrn(conv("conv1", x)))
    x = max_pool(lrn(conv("conv2", x)))
    x = conv("conv5", conv("conv4", conv("conv3", x)))
    out["pool5"] = x = max_pool(x)
    x = x.reshape(-1)  # C, H, W order, as Caffe's InnerProduct sees its input
    for name in ("fc6", "fc7", "fc8"):
        w, b = (np.asarray(a, np.float64) for a in weights[name])
        x = w @ x + b
        if name != "fc8":
            x = relu(x)
        out[name] = x
    return out
