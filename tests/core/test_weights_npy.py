"""Importing bvlc_alexnet.npy: the right numbers in the right places, and no code run."""

from __future__ import annotations

import hashlib
import struct

import numpy as np
import pytest

from alexnet_tf.errors import WeightsError
from alexnet_tf.weights import store
from alexnet_tf.weights.npy import load_npy_dict, read_npy_weights
from tests.synthetic_weights import (
    bvlc_files,
    caffe_to_npy_layout,
    discard_installed_weights,  # noqa: F401 (autouse)
    installed_model_fc8,
    reference_case,
    relative_error,
    write_hostile_npy,
    write_py2_style_npy,
)


def test_imported_npy_gives_the_caffe_reference_output():
    path = bvlc_files()["npy"]
    assert not store.weights_installed()
    info = store.import_weights_file(path)

    image, expected = reference_case()
    assert relative_error(installed_model_fc8(image), expected) < 1e-4
    assert store.installed_weights_info() == info
    assert info["format"] == "npy"
    assert info["source"] == "bvlc_alexnet.npy"
    assert info["sha1"] == hashlib.sha1(path.read_bytes()).hexdigest()
    assert info["size"] == path.stat().st_size
    assert info["imported_at"]


def test_python2_pickle_like_the_real_file_reads_as_numpy_would(tmp_path):
    layers = {
        "conv1": [np.arange(24, dtype=np.float32).reshape(2, 3, 4), np.array([0.5, -2.0])],
        "fc8": [np.arange(6, dtype=">f4").reshape(3, 2), np.ones(3, np.float32)],
    }
    path = write_py2_style_npy(tmp_path / "old.npy", layers)
    ours = load_npy_dict(path)
    numpys = np.load(path, allow_pickle=True, encoding="latin1").item()  # trusted: we wrote it
    assert set(ours) == set(numpys) == {"conv1", "fc8"}
    for name in layers:
        for mine, theirs in zip(ours[name], numpys[name], strict=True):
            np.testing.assert_array_equal(mine, theirs)
            assert mine.dtype == theirs.dtype


def test_hostile_npy_is_refused_and_its_code_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    path = write_hostile_npy(tmp_path / "bvlc_alexnet.npy", marker)

    with pytest.raises(WeightsError) as caught:
        store.import_weights_file(path)
    message = str(caught.value)
    assert str(path) in message and "refused" in message and "system" in message
    assert not marker.exists()
    assert not store.weights_installed()

    # The control: numpy's own loader does run it, so the file really is hostile.
    np.load(path, allow_pickle=True)
    assert marker.exists()


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ({"conv1": [np.array([1, "x"], dtype=object), np.zeros(2)]}, "array of Python objects"),
        ({"conv1": [{1, 2}, np.zeros(2)]}, "set"),
        ({"conv1": [np.zeros(2, "U3"), np.zeros(2)]}, "dtype"),
        ({"conv1": [np.zeros(2, [("a", "f4")]), np.zeros(2)]}, "dtype"),
    ],
)
def test_anything_but_dicts_lists_and_numeric_arrays_is_refused(tmp_path, content, reason):
    path = tmp_path / "odd.npy"
    np.save(path, content, allow_pickle=True)
    with pytest.raises(WeightsError, match=reason) as caught:
        load_npy_dict(path)
    assert str(path) in str(caught.value)


def test_plain_array_npy_is_not_taken_for_weights(tmp_path):
    path = tmp_path / "plain.npy"
    np.save(path, np.zeros((3, 3), np.float32))
    with pytest.raises(WeightsError, match="pickled dict"):
        store.import_weights_file(path)


def test_truncated_and_lying_pickles_are_refused(tmp_path):
    layers = {"conv1": [np.arange(3000, dtype=np.float32), np.zeros(2, np.float32)]}
    good = write_py2_style_npy(tmp_path / "good.npy", layers).read_bytes()
    truncated = tmp_path / "truncated.npy"
    truncated.write_bytes(good[: len(good) // 2])
    with pytest.raises(WeightsError, match="damaged"):
        load_npy_dict(truncated)

    # a pickle claiming an 8 EB byte string: refused without trying to allocate it
    header_end = good.index(b"\n") + 1
    lying = tmp_path / "lying.npy"
    lying.write_bytes(good[:header_end] + b"\x80\x04\x8e" + struct.pack("<Q", 1 << 63) + b"xx")
    with pytest.raises(WeightsError, match="damaged"):
        load_npy_dict(lying)


def test_wrong_shape_names_the_file_the_layer_and_both_shapes(tmp_path):
    small = {
        name: [np.zeros((2, 2), np.float32), np.zeros(2, np.float32)]
        for name in ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8")
    }
    path = tmp_path / "small.npy"
    np.save(path, small, allow_pickle=True)
    with pytest.raises(WeightsError) as caught:
        read_npy_weights(path)
    message = str(caught.value)
    assert str(path) in message and "conv1" in message
    assert "(2, 2)" in message and "(11, 11, 3, 96)" in message


def test_missing_layers_are_named(tmp_path):
    layers = caffe_to_npy_layout({})
    layers["conv1"] = [np.zeros((11, 11, 3, 96), np.float32), np.zeros(96, np.float32)]
    path = tmp_path / "partial.npy"
    np.save(path, layers, allow_pickle=True)
    with pytest.raises(WeightsError, match="conv2, conv3, conv4, conv5, fc6, fc7, fc8 missing"):
        read_npy_weights(path)


def test_a_pickled_dict_with_a_non_dict_top_is_refused(tmp_path):
    path = tmp_path / "list.npy"
    np.save(path, np.array([[1.0], [2.0]], dtype=object), allow_pickle=True)
    with pytest.raises(WeightsError) as caught:
        load_npy_dict(path)
    assert str(path) in str(caught.value)
