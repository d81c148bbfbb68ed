"""Synthetic "ImageNet-like" AlexNet weights for training tests (real ones are never downloaded).

Keras' default initialisation on Caffe-scaled pixels (about +-128) gives activations that grow
layer by layer until the softmax saturates, which makes from-scratch training erratic. These
weights are random but rescaled layer by layer so every layer's output has unit spread on
natural-looking inputs (the idea of LSUV initialisation), like a trained network's would.
They are installed with the store's own file names, so `--init imagenet` finds them.
"""

from __future__ import annotations

import atexit
import functools
import json
import os
import shutil
import struct
import tempfile
from pathlib import Path

import numpy as np
import pytest


def install_synthetic_imagenet_weights(home: Path, fc7_scale: float = 1.0) -> Path:
    """Write scaled random weights as the installed ImageNet weights under ``home``.

    ``fc7_scale`` multiplies fc7's weights and bias, hence (ReLU) its activations: 100 gives
    the "fc7 100x larger than the BVLC model's" case fine-tuning must survive.
    Returns the weights file. Run it in a process whose ``ALEXNET_STUDIO_HOME`` may differ:
    the paths are built from ``home`` directly.
    """
    import keras

    from alexnet_tf.model import WEIGHT_LAYERS, build_alexnet
    from alexnet_tf.preprocess import normalize
    from alexnet_tf.weights.store import INFO_FILE, WEIGHTS_FILE

    keras.utils.set_random_seed(1234)
    model = build_alexnet(1000, dropout=0)
    rng = np.random.default_rng(0)
    # smooth random images: low-resolution noise scaled up, like blobs of colour
    small = rng.integers(0, 256, (8, 8, 8, 3)).astype(np.float32)
    images = normalize(np.repeat(np.repeat(small, 29, axis=1), 29, axis=2)[:, :227, :227])
    for name in WEIGHT_LAYERS:
        layer = model.get_layer(name)
        probe = keras.Model(model.input, layer.output)
        kernel, bias = layer.get_weights()
        spread = float(np.std(probe(images, training=False)))
        layer.set_weights([kernel / max(spread, 1e-6), bias])
    fc7 = model.get_layer("fc7")
    fc7.set_weights([w * np.float32(fc7_scale) for w in fc7.get_weights()])
    folder = Path(home) / "weights"
    folder.mkdir(parents=True, exist_ok=True)
    model.save_weights(folder / WEIGHTS_FILE)
    (folder / INFO_FILE).write_text(json.dumps({"source": "synthetic test weights"}))
    return folder / WEIGHTS_FILE


@functools.cache
def _shared_synthetic_weights(fc7_scale: float) -> Path:
    """The synthetic weights built once per test process, in a folder removed at its exit."""
    folder = Path(tempfile.mkdtemp(prefix="alexnet-synthetic-weights-"))
    atexit.register(shutil.rmtree, folder, True)
    return install_synthetic_imagenet_weights(folder, fc7_scale)


def link_synthetic_imagenet_weights(home: Path, fc7_scale: float = 1.0) -> Path:
    """What ``install_synthetic_imagenet_weights`` installs, built once per test process and
    hard-linked into ``home`` (2-3 s of TensorFlow and a 244 MB write per module otherwise).

    The files are the same; only their making is shared, so a test that rewrites the weights
    file must use ``install_synthetic_imagenet_weights`` (a link shares its content).
    Returns the weights file.
    """
    source = _shared_synthetic_weights(float(fc7_scale))
    folder = Path(home) / "weights"
    folder.mkdir(parents=True, exist_ok=True)
    for made in source.parent.iterdir():
        try:
            os.link(made, folder / made.name)
        except OSError:  # another file system: a copy
            shutil.copyfile(made, folder / made.name)
    return folder / source.name


# --- Synthetic BVLC weight files, in each public format, for the importer tests -------------
#
# The writers below use Caffe's layouts and hand-encode the protobuf, so they share no code
# with the importers they test. Full-size files are about 244 MB each; `bvlc_files()` writes
# them once per test session into a temporary folder.

# Caffe blob shapes of the BVLC AlexNet: conv (out, in/groups, kh, kw), fc (out, in).
CAFFE_SHAPES = {
    "conv1": ((96, 3, 11, 11), (96,)),
    "conv2": ((256, 48, 5, 5), (256,)),
    "conv3": ((384, 256, 3, 3), (384,)),
    "conv4": ((384, 192, 3, 3), (384,)),
    "conv5": ((256, 192, 3, 3), (256,)),
    "fc6": ((4096, 9216), (4096,)),
    "fc7": ((4096, 4096), (4096,)),
    "fc8": ((1000, 4096), (1000,)),
}
# The layers of deploy.prototxt in order, with their V1 type enums and V2 type names.
_NET = [
    ("data", 5, "Input"), ("conv1", 4, "Convolution"), ("relu1", 18, "ReLU"),
    ("norm1", 15, "LRN"), ("pool1", 17, "Pooling"), ("conv2", 4, "Convolution"),
    ("relu2", 18, "ReLU"), ("norm2", 15, "LRN"), ("pool2", 17, "Pooling"),
    ("conv3", 4, "Convolution"), ("relu3", 18, "ReLU"), ("conv4", 4, "Convolution"),
    ("relu4", 18, "ReLU"), ("conv5", 4, "Convolution"), ("relu5", 18, "ReLU"),
    ("pool5", 17, "Pooling"), ("fc6", 14, "InnerProduct"), ("relu6", 18, "ReLU"),
    ("drop6", 6, "Dropout"), ("fc7", 14, "InnerProduct"), ("relu7", 18, "ReLU"),
    ("drop7", 6, "Dropout"), ("fc8", 14, "InnerProduct"), ("prob", 20, "Softmax"),
]  # fmt: skip


def random_caffe_weights(seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Random AlexNet weights in Caffe layout, float32, He-scaled so activations neither
    vanish nor explode on Caffe-preprocessed input (and LRN has a visible effect)."""
    rng = np.random.default_rng(seed)
    weights = {}
    for name, (w_shape, b_shape) in CAFFE_SHAPES.items():
        fan_in = int(np.prod(w_shape[1:]))
        w = rng.standard_normal(w_shape, dtype=np.float32) * np.float32(np.sqrt(2.0 / fan_in))
        b = rng.uniform(-1.0, 1.0, b_shape).astype(np.float32)
        weights[name] = (w, b)
    return weights


def caffe_to_npy_layout(weights) -> dict[str, list[np.ndarray]]:
    """What bvlc_alexnet.npy holds: conv (kh, kw, in/groups, out), fc (in, out), and fc6's
    rows in the order of an (H, W, C) flatten of pool5 (Caffe's columns are C, H, W)."""
    layers = {}
    for name, (w, b) in weights.items():
        if w.ndim == 4:
            w = np.transpose(w, (2, 3, 1, 0))
        elif name == "fc6":
            # column c*36 + h*6 + w of Caffe becomes row h*1536 + w*256 + c
            w = np.moveaxis(w.reshape(4096, 256, 6, 6), 1, 3).reshape(4096, 9216).T
        else:
            w = w.T
        layers[name] = [np.ascontiguousarray(w), b.copy()]
    return layers


def write_npy(path: Path, weights) -> Path:
    """Write Caffe-layout ``weights`` the way bvlc_alexnet.npy was made: ``np.save`` of a dict."""
    np.save(path, caffe_to_npy_layout(weights), allow_pickle=True)
    return Path(path)


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _key(field: int, wire: int) -> bytes:
    return _varint(field << 3 | wire)


def field_bytes(field: int, payload: bytes) -> bytes:
    return _key(field, 2) + _varint(len(payload)) + payload


def field_varint(field: int, value: int) -> bytes:
    return _key(field, 0) + _varint(value)


def blob_v1(array: np.ndarray, role: str) -> bytes:
    """Old-style BlobProto: always 4-D num/channels/height/width, packed float data."""
    if role == "bias":
        dims = (1, 1, 1, array.size)
    elif array.ndim == 2:
        dims = (1, 1, *array.shape)
    else:
        dims = array.shape
    fields = b"".join(field_varint(f, d) for f, d in zip((1, 2, 3, 4), dims, strict=True))
    return fields + field_bytes(5, array.astype("<f4").tobytes())


def blob_v2(array: np.ndarray, encoding: str) -> bytes:
    """New-style BlobProto: BlobShape (packed dims) and the data as ``encoding`` says."""
    shape = field_bytes(1, b"".join(_varint(d) for d in array.shape))
    blob = field_bytes(7, shape)
    flat = array.reshape(-1)
    if encoding == "packed":
        return blob + field_bytes(5, flat.astype("<f4").tobytes())
    if encoding == "unpacked":  # one field-5 record per float
        return blob + b"".join(_key(5, 5) + v.tobytes() for v in flat.astype("<f4"))
    if encoding == "packed_double":
        return blob + field_bytes(8, flat.astype("<f8").tobytes())
    if encoding == "unpacked_double":
        return blob + b"".join(_key(8, 1) + v.tobytes() for v in flat.astype("<f8"))
    raise ValueError(encoding)


# how the V2 writer stores each bias (weights are always packed floats)
_V2_BIAS_ENCODING = {"conv1": "unpacked", "conv3": "unpacked", "fc7": "unpacked_double",
                     "fc8": "packed_double"}  # fmt: skip


def write_caffemodel(path: Path, weights, version: str = "v1") -> Path:
    """Hand-encode a Caffe ``NetParameter`` holding ``weights`` (Caffe layout).

    ``version="v1"`` writes the old ``layers`` (field 2) with V1LayerParameter (enum types,
    4-D legacy blob dims), like bvlc_alexnet.caffemodel; ``"v2"`` writes ``layer`` (field
    100) with string types and BlobShape, and stores some biases as unpacked floats and
    as doubles to cover those encodings.
    """
    with open(path, "wb") as file:
        file.write(field_bytes(1, b"AlexNet"))
        previous = "data"
        for name, v1_type, v2_type in _NET:
            blobs = []
            if name in weights:
                w, b = weights[name]
                if version == "v1":
                    blobs = [blob_v1(w, "weights"), blob_v1(b, "bias")]
                else:
                    encoding = _V2_BIAS_ENCODING.get(name, "packed")
                    blobs = [blob_v2(w, "packed"), blob_v2(b, encoding)]
            if version == "v1":
                layer = (
                    field_bytes(2, previous.encode())  # bottom
                    + field_bytes(3, name.encode())  # top
                    + field_bytes(4, name.encode())
                    + field_varint(5, v1_type)
                    + b"".join(field_bytes(6, blob) for blob in blobs)
                )
                file.write(field_bytes(2, layer))
            else:
                layer = (
                    field_bytes(1, name.encode())
                    + field_bytes(2, v2_type.encode())
                    + field_bytes(3, previous.encode())
                    + field_bytes(4, name.encode())
                    + b"".join(field_bytes(7, blob) for blob in blobs)
                    + field_bytes(106, field_varint(1, 96))  # a convolution_param to skip
                )
                file.write(field_bytes(100, layer))
            previous = name
    return Path(path)


@functools.cache
def reference_case() -> tuple[np.ndarray, np.ndarray]:
    """A random preprocessed-like input (227, 227, 3) and the Caffe reference fc8 for it,
    computed once per process by the independent NumPy forward pass."""
    from tests.caffe_reference import alexnet_forward

    image = np.random.default_rng(1).uniform(-120, 130, (227, 227, 3)).astype(np.float32)
    fc8 = alexnet_forward(image.transpose(2, 0, 1), bvlc_files()["weights"])["fc8"]
    return image, fc8


@functools.cache
def bvlc_files() -> dict:
    """Full-size synthetic weight files, written once per process.

    Returns:
        ``{"weights": Caffe-layout weights, "npy": path, "caffemodel_v1": path,
        "caffemodel_v2": path}``; the folder is removed when the process exits.
    """
    folder = Path(tempfile.mkdtemp(prefix="alexnet-bvlc-files-"))
    atexit.register(shutil.rmtree, folder, True)
    weights = random_caffe_weights()
    return {
        "weights": weights,
        "npy": write_npy(folder / "bvlc_alexnet.npy", weights),
        "caffemodel_v1": write_caffemodel(folder / "bvlc_alexnet.caffemodel", weights, "v1"),
        "caffemodel_v2": write_caffemodel(folder / "bvlc_alexnet_v2.caffemodel", weights, "v2"),
    }


class _WritesMarker:
    """Pickles as a call that creates ``marker``: what a malicious .npy would carry."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch '{self.marker}'",))


def write_hostile_npy(path: Path, marker: Path) -> Path:
    """An .npy shaped like bvlc_alexnet.npy whose pickle runs ``touch marker`` when loaded
    with ``np.load(allow_pickle=True)``."""
    zeros = np.zeros(2, np.float32)
    layers = {name: [zeros, zeros] for name in CAFFE_SHAPES}
    layers["conv1"][1] = _WritesMarker(marker)
    np.save(path, layers, allow_pickle=True)
    return Path(path)


def write_py2_style_npy(path: Path, layers: dict[str, list[np.ndarray]]) -> Path:
    """Write ``layers`` as Python 2's numpy did (pickle protocol 2, ``numpy.core.multiarray``,
    array data as Python 2 ``str``), like the real bvlc_alexnet.npy from 2016."""

    def string(data: bytes) -> bytes:  # Python 2 str: SHORT_BINSTRING or BINSTRING
        if len(data) < 256:
            return b"U" + bytes([len(data)]) + data
        return b"T" + struct.pack("<i", len(data)) + data

    def dtype(code: bytes, order: bytes, flags: int = 0) -> bytes:
        return (
            b"cnumpy\ndtype\n" + string(code) + b"K\x00K\x01\x87R"
            + b"(K\x03" + string(order) + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK"
            + bytes([flags]) + b"tb"
        )  # fmt: skip

    def array(value: np.ndarray | None, content: bytes) -> bytes:
        head = b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85" + string(b"b")
        head += b"\x87R(K\x01"
        if value is None:  # the 0-d object array np.save wraps the dict in
            return head + b")" + dtype(b"O8", b"|", 63) + b"\x89" + content + b"tb"
        shape = b"(" + b"".join(b"J" + struct.pack("<i", n) for n in value.shape) + b"t"
        little = value.astype(value.dtype.newbyteorder("<"))
        code = f"{value.dtype.kind}{value.dtype.itemsize}".encode()
        return head + shape + dtype(code, b"<") + b"\x89" + string(little.tobytes()) + b"tb"

    items = b"".join(
        string(name.encode()) + b"](" + b"".join(array(a, b"") for a in pair) + b"e"
        for name, pair in layers.items()
    )
    pickled = b"\x80\x02" + array(None, b"](}(" + items + b"ue") + b"."
    header = {"descr": "|O", "fortran_order": False, "shape": ()}
    with open(path, "wb") as file:
        np.lib.format.write_array_header_1_0(file, header)
        file.write(pickled)
    return Path(path)


def installed_model_fc8(image: np.ndarray) -> np.ndarray:
    """fc8 (the softmax input) of the installed ImageNet model on one (227, 227, 3) image."""
    import keras

    from alexnet_tf.weights.store import load_imagenet_model

    model = load_imagenet_model()
    fc8 = keras.Model(model.input, model.get_layer("fc8").output)
    return np.asarray(fc8(image[None], training=False))[0]


def relative_error(actual: np.ndarray, expected: np.ndarray) -> float:
    """``|actual - expected| / |expected|`` in the Euclidean norm."""
    return float(np.linalg.norm(actual - expected) / np.linalg.norm(expected))


@pytest.fixture(autouse=True)
def discard_installed_weights(studio_home):
    """Delete the 244 MB of installed weights after each test of a module that imports this
    (pytest keeps recent temporary folders, which would otherwise pile up gigabytes)."""
    yield
    (Path(studio_home) / "weights" / "bvlc_alexnet.weights.h5").unlink(missing_ok=True)
