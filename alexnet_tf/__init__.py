"""AlexNet in Keras 3: model, weights, data, training and inference. No Qt in here.

Public names are imported lazily, so that ``import alexnet_tf`` (and the modules that need
no TensorFlow, such as ``alexnet_tf.paths``) stay fast: TensorFlow takes seconds to import.
"""

from importlib import import_module

_PUBLIC = {
    "build_alexnet": "alexnet_tf.model",
    "LocalResponseNormalization": "alexnet_tf.model",
    "GroupedConv2D": "alexnet_tf.model",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name):
    if name in _PUBLIC:
        return getattr(import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'alexnet_tf' has no attribute {name!r}")
