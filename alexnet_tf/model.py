"""The AlexNet of Krizhevsky et al. (2012), exactly as in the BVLC Caffe model.

The topology, constants and layer names follow ``models/bvlc_alexnet/deploy.prototxt``: the
pretrained weights were trained with it. Inputs are Caffe-preprocessed images (see
``alexnet_tf.preprocess``): 227x227, BGR, mean subtracted, NHWC.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import layers

# The names live in a TensorFlow-free module (the LiteRT engine needs them); kept importable here.
from .layer_names import INPUT_SHAPE, NAMED_LAYERS, WEIGHT_LAYERS  # noqa: F401

CONV_GROUPS = {"conv1": 1, "conv2": 2, "conv3": 1, "conv4": 2, "conv5": 2}

# Caffe's LRN divides alpha by local_size (5); tf.nn.local_response_normalization does not.
LRN_DEPTH_RADIUS = 2
LRN_BIAS = 1.0
LRN_ALPHA = 1e-4 / 5
LRN_BETA = 0.75


@keras.saving.register_keras_serializable(package="alexnet_tf")
class LocalResponseNormalization(layers.Layer):
    """Local response normalization across channels, in Caffe's convention.

    ``b = a / (bias + alpha * sum_{|j-i|<=depth_radius} a_j^2) ** beta``, with ``alpha``
    already divided by the window size. The layer always computes in float32: TF's LRN
    kernels (and their gradients) are float32-only on GPU, so under mixed precision the
    inputs are cast up and the outputs stay float32.

    Args:
        depth_radius: half-width of the channel window (Caffe's local_size is 2 * r + 1).
        bias: the additive constant ``k``.
        alpha: the scale, per element of the window.
        beta: the exponent.
    """

    def __init__(
        self,
        depth_radius=LRN_DEPTH_RADIUS,
        bias=LRN_BIAS,
        alpha=LRN_ALPHA,
        beta=LRN_BETA,
        **kwargs,
    ):
        kwargs["dtype"] = "float32"
        super().__init__(**kwargs)
        if not isinstance(depth_radius, int) or depth_radius < 0:
            raise ValueError(
                "depth_radius must be a non-negative integer. "
                f"Received: depth_radius={depth_radius}"
            )
        for name, value in (("bias", bias), ("alpha", alpha), ("beta", beta)):
            if not isinstance(value, (int, float)) or value <= 0:
                raise ValueError(f"{name} must be a positive number. Received: {name}={value}")
        self.depth_radius = depth_radius
        self.bias = float(bias)
        self.alpha = float(alpha)
        self.beta = float(beta)

    def call(self, inputs):
        return tf.nn.local_response_normalization(
            inputs,
            depth_radius=self.depth_radius,
            bias=self.bias,
            alpha=self.alpha,
            beta=self.beta,
        )

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            depth_radius=self.depth_radius, bias=self.bias, alpha=self.alpha, beta=self.beta
        )
        config.pop("dtype", None)  # always float32, set in __init__
        return config


@keras.saving.register_keras_serializable(package="alexnet_tf")
class GroupedConv2D(layers.Conv2D):
    """``Conv2D`` with ``groups > 1`` computed as one ordinary convolution per group.

    The kernel keeps the layout of ``keras.layers.Conv2D(groups=g)``,
    ``(kh, kw, in_channels // g, filters)``, so Caffe group weights map onto it directly.
    Measured on CPU (see benchmarks/grouped_conv.py), TF's native grouped convolution trains
    several times slower than splitting the input and running ``g`` plain convolutions, so
    ``implementation="split"`` is the default; ``"native"`` is kept for that comparison.
    """

    def __init__(self, *args, implementation="split", **kwargs):
        super().__init__(*args, **kwargs)
        if implementation not in ("split", "native"):
            raise ValueError(
                "implementation must be 'split' or 'native'. "
                f"Received: implementation={implementation!r}"
            )
        if self.data_format != "channels_last":
            raise ValueError(
                "GroupedConv2D supports channels_last only. "
                f"Received: data_format={self.data_format!r}"
            )
        self.implementation = implementation

    def convolution_op(self, inputs, kernel):
        if self.groups == 1 or self.implementation == "native":
            return super().convolution_op(inputs, kernel)
        input_groups = tf.split(inputs, self.groups, axis=-1)
        kernel_groups = tf.split(kernel, self.groups, axis=-1)
        outputs = [
            tf.nn.conv2d(
                x,
                k,
                strides=list(self.strides),
                padding=self.padding.upper(),
                dilations=list(self.dilation_rate),
            )
            for x, k in zip(input_groups, kernel_groups, strict=True)
        ]
        return tf.concat(outputs, axis=-1)

    def get_config(self):
        config = super().get_config()
        config["implementation"] = self.implementation
        return config


def build_alexnet(
    num_classes=1000,
    *,
    dropout=0.5,
    grouped_conv="split",
    name="alexnet",
):
    """Build AlexNet with the BVLC topology.

    Args:
        num_classes: size of the last layer, ``fc8``. 1000 for ImageNet.
        dropout: dropout rate after fc6 and fc7 (active only in training). 0 disables it.
        grouped_conv: ``"split"`` (fast on CPU) or ``"native"`` (``Conv2D(groups=2)``).
        name: the model's name.

    Returns:
        A ``keras.Model`` from a ``(None, 227, 227, 3)`` Caffe-preprocessed input to softmax
        probabilities, with layers named as in Caffe (see ``NAMED_LAYERS``). With 1000
        classes it has 60,965,224 parameters.
    """
    if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 1:
        raise ValueError(
            f"num_classes must be a positive integer. Received: num_classes={num_classes}"
        )
    if not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
        raise ValueError(f"dropout must be in [0, 1). Received: dropout={dropout}")
    if grouped_conv not in ("split", "native"):
        raise ValueError(
            f"grouped_conv must be 'split' or 'native'. Received: grouped_conv={grouped_conv!r}"
        )

    def conv(filters, size, name, strides=1, padding="same"):
        return GroupedConv2D(
            filters,
            size,
            strides=strides,
            padding=padding,
            groups=CONV_GROUPS[name],
            activation="relu",
            implementation=grouped_conv,
            name=name,
        )

    def pool(name):
        return layers.MaxPooling2D(pool_size=3, strides=2, padding="valid", name=name)

    inputs = keras.Input(shape=INPUT_SHAPE, name="image")
    x = conv(96, 11, "conv1", strides=4, padding="valid")(inputs)
    x = LocalResponseNormalization(name="norm1")(x)
    x = pool("pool1")(x)
    x = conv(256, 5, "conv2")(x)
    x = LocalResponseNormalization(name="norm2")(x)
    x = pool("pool2")(x)
    x = conv(384, 3, "conv3")(x)
    x = conv(384, 3, "conv4")(x)
    x = conv(256, 3, "conv5")(x)
    x = pool("pool5")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(4096, activation="relu", name="fc6")(x)
    x = layers.Dropout(dropout, name="drop6")(x)
    x = layers.Dense(4096, activation="relu", name="fc7")(x)
    x = layers.Dropout(dropout, name="drop7")(x)
    x = layers.Dense(num_classes, name="fc8")(x)
    outputs = layers.Softmax(dtype="float32", name="prob")(x)
    return keras.Model(inputs, outputs, name=name)
