"""AlexNet's input shape and the names of its layers, without TensorFlow.

``alexnet_tf.model`` builds the network with these names; the LiteRT engine
(``alexnet_tf.litert_classifier``) reads the same outputs from a flatbuffer, and must not
import TensorFlow to know them.
"""

from __future__ import annotations

INPUT_SHAPE = (227, 227, 3)

# Every layer a user can look at, in network order. Weights live in the conv and fc layers.
NAMED_LAYERS = (
    "conv1", "norm1", "pool1", "conv2", "norm2", "pool2",
    "conv3", "conv4", "conv5", "pool5", "fc6", "fc7", "fc8",
)  # fmt: skip
WEIGHT_LAYERS = ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8")
