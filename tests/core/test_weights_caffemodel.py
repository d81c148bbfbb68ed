"""Importing bvlc_alexnet.caffemodel: both protobuf forms, Caffe layouts, hostile files."""

from __future__ import annotations

import numpy as np
import pytest

from alexnet_tf.errors import WeightsError
from alexnet_tf.weights import store
from alexnet_tf.weights.caffemodel import read_caffemodel_blobs, read_caffemodel_weights
from tests.synthetic_weights import (
    bvlc_files,
    discard_installed_weights,  # noqa: F401 (autouse)
    field_bytes,
    field_varint,
    installed_model_fc8,
    reference_case,
    relative_error,
)


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_imported_caffemodel_gives_the_caffe_reference_output(version):
    path = bvlc_files()[f"caffemodel_{version}"]
    info = store.import_weights_file(path)
    assert info["format"] == "caffemodel"
    assert info["source"] == path.name

    image, expected = reference_case()
    assert relative_error(installed_model_fc8(image), expected) < 1e-4


def test_v1_and_v2_files_hold_the_same_caffe_blobs():
    """Packed, unpacked and double-encoded blobs all decode to the written values."""
    weights = bvlc_files()["weights"]
    for version in ("v1", "v2"):
        blobs = read_caffemodel_blobs(bvlc_files()[f"caffemodel_{version}"])
        assert sorted(blobs) == sorted(weights)
        for name, (w, b) in weights.items():
            np.testing.assert_array_equal(blobs[name][0].reshape(w.shape), w)
            np.testing.assert_array_equal(blobs[name][1].reshape(-1), b)


def _net(*layers: bytes, v1: bool = False) -> bytes:
    return field_bytes(1, b"tiny") + b"".join(field_bytes(2 if v1 else 100, x) for x in layers)


def _layer(name: str, kind: str, *blobs: bytes) -> bytes:
    return (
        field_bytes(1, name.encode())
        + field_bytes(2, kind.encode())
        + b"".join(field_bytes(7, blob) for blob in blobs)
    )


def _blob(dims, values: np.ndarray) -> bytes:
    shape = field_bytes(1, b"".join(field_varint(1, d)[1:] for d in dims))  # packed dims
    return field_bytes(7, shape) + field_bytes(5, values.astype("<f4").tobytes())


def _write(tmp_path, name, content: bytes):
    path = tmp_path / name
    path.write_bytes(content)
    return path


@pytest.mark.parametrize("cut", [0.001, 0.5, 0.99999])
def test_truncated_caffemodel_is_refused(tmp_path, cut):
    content = bvlc_files()["caffemodel_v1"].read_bytes()
    path = _write(tmp_path, "cut.caffemodel", content[: int(len(content) * cut)])
    with pytest.raises(WeightsError, match="truncated") as caught:
        store.import_weights_file(path)
    assert str(path) in str(caught.value)
    assert not store.weights_installed()
    path.unlink()  # up to 244 MB


@pytest.mark.parametrize(
    ("dims", "reason"),
    [
        ((1 << 30, 1 << 30, 11, 11), "absurd shape"),
        ((0, 3, 11, 11), "absurd shape"),
        ((1 << 20, 1 << 20), "absurd shape"),
        ((96, 3, 11, 11), "needs 34848 values, has 4"),
    ],
)
def test_blob_whose_shape_does_not_fit_its_data_is_refused(tmp_path, dims, reason):
    blob = _blob(dims, np.zeros(4, np.float32))
    path = _write(tmp_path, "odd.caffemodel", _net(_layer("conv1", "Convolution", blob, blob)))
    with pytest.raises(WeightsError, match=reason) as caught:
        read_caffemodel_blobs(path)
    assert str(path) in str(caught.value) and "conv1" in str(caught.value)


def test_length_beyond_the_file_is_refused_before_reading(tmp_path):
    # a layer that claims 2**62 bytes, in a file of a few bytes
    content = field_bytes(1, b"x") + b"\xa2\x06" + b"\xff" * 8 + b"\x3f" + b"abc"
    path = _write(tmp_path, "liar.caffemodel", content)
    with pytest.raises(WeightsError, match="only 3 remain"):
        read_caffemodel_blobs(path)


def test_endless_varint_and_group_wire_types_are_refused(tmp_path):
    endless = _write(tmp_path, "endless.caffemodel", b"\x0a\x01x\x20" + b"\xff" * 64)
    with pytest.raises(WeightsError, match="malformed number"):
        read_caffemodel_blobs(endless)
    group = _write(tmp_path, "group.caffemodel", b"\x0a\x01x" + b"\x13")  # field 2, wire 3
    with pytest.raises(WeightsError, match="wire type 3"):
        read_caffemodel_blobs(group)


def test_missing_layers_and_wrong_types_are_named(tmp_path):
    conv1 = _layer(
        "conv1",
        "Convolution",
        _blob((96, 3, 11, 11), np.zeros(34848)),
        _blob((96,), np.zeros(96)),
    )
    only_conv1 = _write(tmp_path, "only_conv1.caffemodel", _net(conv1))
    with pytest.raises(WeightsError, match="conv2, conv3, conv4, conv5, fc6, fc7, fc8 missing"):
        read_caffemodel_weights(only_conv1)

    wrong = _write(tmp_path, "wrong.caffemodel", _net(_layer("fc6", "Convolution", b"", b"")))
    with pytest.raises(WeightsError, match="layer fc6 is of type 'Convolution'"):
        read_caffemodel_blobs(wrong)


def test_a_file_that_is_neither_format_is_refused_by_content(tmp_path):
    text = _write(tmp_path, "bvlc_alexnet.caffemodel", b"<html>404 Not Found</html>")
    with pytest.raises(WeightsError, match="neither a bvlc_alexnet.npy nor") as caught:
        store.import_weights_file(text)
    assert str(text) in str(caught.value)
    with pytest.raises(WeightsError, match="no such file"):
        store.import_weights_file(tmp_path / "absent.caffemodel")
