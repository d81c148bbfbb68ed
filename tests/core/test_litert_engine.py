"""The LiteRT engine: the same answers as TensorFlow, and never from a stale or wrong file.

The flatbuffers are real (converted by TensorFlow from the synthetic ImageNet-shaped weights
and from a fine-tuned job, once per test process: tests/litert_fixtures.py) and run by the
real LiteRT interpreter.
"""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest

from alexnet_tf.flatbuffer_cache import cache_files, load_cached, model_source
from alexnet_tf.images import load_image
from alexnet_tf.litert_classifier import LiteClassifier
from tests.litert_fixtures import JOB_LABELS, install_built_models
from tests.photos import sample_photo

PHOTOS = ("china.jpg", "flower.jpg")


@pytest.fixture
def job(studio_home, monkeypatch):
    """Built ImageNet and job flatbuffers in this test's data folder; the job folder."""
    monkeypatch.setenv("ALEXNET_STUDIO_ENGINE", "auto")
    return install_built_models(studio_home)


def _both(spec):
    from alexnet_tf.inference import Classifier

    lite, reason = LiteClassifier.load(spec)
    assert lite is not None, reason
    return lite, Classifier.load(spec)


@pytest.mark.parametrize("which", ["imagenet", "job"])
def test_litert_gives_tensorflows_probabilities_and_layer_maps(job, which):
    spec = None if which == "imagenet" else job
    lite, reference = _both(spec)
    assert lite.labels == reference.labels and lite.name == reference.name
    if which == "job":
        assert lite.labels == tuple(JOB_LABELS)
    images = [load_image(sample_photo(name)) for name in PHOTOS]
    everything = lite.num_classes
    for mine, theirs in zip(
        lite.classify_batch(images, top=everything),
        reference.classify_batch(images, top=everything),
        strict=True,
    ):
        by_class = {p.index: p.probability for p in theirs}
        assert max(abs(p.probability - by_class[p.index]) for p in mine) < 1e-4
    for image in images:
        mine, theirs = lite.analyze(image), reference.analyze(image)
        assert [p.index for p in mine.predictions] == [p.index for p in theirs.predictions]
        assert np.array_equal(mine.crop_rgb, theirs.crop_rgb)
        for layer, expected in theirs.activations.items():
            got = mine.activations[layer]
            assert got.shape == expected.shape, layer
            scale = float(np.abs(expected).max()) or 1.0
            assert float(np.abs(got - expected).max()) <= 1e-4 * scale, layer


def test_conv1_filters_come_from_the_flatbuffer(job):
    lite, reference = _both(None)
    expected = reference.model.get_layer("conv1").kernel.numpy()
    assert np.array_equal(lite.conv1_kernel(), expected)


def _refused(spec=None) -> str:
    cached, reason = load_cached(spec)
    assert cached is None
    lite, lite_reason = LiteClassifier.load(spec)
    assert lite is None and lite_reason == reason
    return reason


def test_a_missing_flatbuffer_is_reported_not_used(job):
    for file in cache_files(model_source(None)):
        file.unlink()
    assert "not built yet" in _refused()


def test_a_truncated_flatbuffer_is_never_loaded(job):
    _, flatbuffer = cache_files(model_source(None))
    with open(flatbuffer, "r+b") as file:
        file.truncate(flatbuffer.stat().st_size // 2)
    assert "bytes, the key says" in _refused()


def test_a_flatbuffer_changed_in_place_fails_its_digest(job):
    _, flatbuffer = cache_files(model_source(None))
    with open(flatbuffer, "r+b") as file:
        file.seek(flatbuffer.stat().st_size // 2)
        file.write(b"\xff" * 64)  # same size, other weights inside
    assert "not the one its key describes" in _refused()


def test_other_weights_installed_make_the_flatbuffer_stale(job):
    from alexnet_tf.weights.store import installed_weights_path

    weights = installed_weights_path()
    other = weights.with_name("other.h5")
    shutil.copyfile(weights, other)
    with open(other, "r+b") as file:  # a different model, same size
        file.seek(other.stat().st_size - 4096)
        file.write(os.urandom(64))
    os.replace(other, weights)
    assert "other content" in _refused()


def test_the_same_weights_written_again_keep_the_flatbuffer(job):
    from alexnet_tf.weights.store import installed_weights_path

    weights = installed_weights_path()
    copy = weights.with_name("copy.h5")
    shutil.copyfile(weights, copy)
    os.replace(copy, weights)  # new inode and mtime, same content: hashed, still valid
    lite, reason = LiteClassifier.load(None)
    assert lite is not None, reason


def _replace(path, content: bytes) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_bytes(content)
    os.replace(temporary, path)  # as a job finishing again writes its model


def test_a_job_finished_again_makes_its_flatbuffer_stale(job):
    model_file = job / "model" / "model.keras"
    original = model_file.read_bytes()
    content = bytearray(original)
    content[-100:] = b"\0" * 100  # another model file (the check reads only its digest)
    _replace(model_file, bytes(content))
    try:
        assert "other content" in _refused(job)
    finally:  # the job folder is shared by this process's tests (built once)
        _replace(model_file, original)


def test_a_flatbuffer_of_another_job_is_refused(job, tmp_path):
    other = tmp_path / "other-job"
    shutil.copytree(job, other)  # the same model file, another job
    source = model_source(job)
    for mine, theirs in zip(cache_files(source), cache_files(model_source(other)), strict=True):
        shutil.copyfile(mine, theirs)
    assert "made for another model" in _refused(other)


def test_a_flatbuffer_of_another_converter_is_refused(job):
    key_file, _ = cache_files(model_source(None))
    key = json.loads(key_file.read_text())
    key["converter"] = "tensorflow 2.0.0"
    key_file.write_text(json.dumps(key))
    assert "made by tensorflow 2.0.0" in _refused()


@pytest.mark.parametrize(
    "content",
    [
        b'{"format": NaN}',
        b"[" * 100_000 + b"]" * 100_000,
        b" " * 100_000 + b"{}",
        b"\xff\xfe not json",
        b'{"format": 1, "model": "imagenet"}',
        b'{"format": 1, "model": "imagenet", "converter": 1, "source": [], "flatbuffer": {},'
        b' "outputs": "prob", "num_classes": -1}',
    ],
    ids=["nan", "deep", "huge", "binary", "incomplete", "wrong-types"],
)
def test_a_hostile_key_file_is_refused_without_a_traceback(job, content):
    key_file, _ = cache_files(model_source(None))
    key_file.write_bytes(content)
    assert key_file.name in _refused()


def test_a_hostile_flatbuffer_with_a_forged_key_is_not_run(job):
    import hashlib

    key_file, flatbuffer = cache_files(model_source(None))
    junk = os.urandom(1 << 16)
    flatbuffer.write_bytes(junk)
    key = json.loads(key_file.read_text())
    key["flatbuffer"] = {"size": len(junk), "sha256": hashlib.sha256(junk).hexdigest()}
    key_file.write_text(json.dumps(key))
    lite, reason = LiteClassifier.load(None)
    assert lite is None and "LiteRT cannot load" in reason


def test_the_tensorflow_setting_never_uses_or_builds_a_flatbuffer(job, monkeypatch):
    from alexnet_tf.flatbuffer_cache import start_background_build

    monkeypatch.setenv("ALEXNET_STUDIO_ENGINE", "tensorflow")
    lite, reason = LiteClassifier.load(None)
    assert lite is None and "tensorflow" in reason
    assert start_background_build(None) is None


def test_a_wrong_engine_setting_is_named(job, monkeypatch):
    from alexnet_tf.errors import ModelLoadError

    monkeypatch.setenv("ALEXNET_STUDIO_ENGINE", "fastest")
    with pytest.raises(ModelLoadError, match="ALEXNET_STUDIO_ENGINE must be one of"):
        LiteClassifier.load(None)


def _entry(litert_ms, litert_rate, tf_ms=30.0, tf_rate=60.0):
    return {
        "inference": {
            "single_ms": {"xla": tf_ms, "graph": tf_ms + 5},
            "batch_images_per_s": {"xla": tf_rate, "graph": tf_rate - 5},
        },
        "litert": {"single_ms": litert_ms, "batch_images_per_s": litert_rate},
    }


def test_the_measured_engine_choice_weighs_tensorflows_start(monkeypatch):
    from alexnet_tf.litert_classifier import litert_preferred, measured_engines

    monkeypatch.setenv("ALEXNET_STUDIO_ENGINE", "auto")
    slower_batches = _entry(litert_ms=25.0, litert_rate=40.0)
    assert measured_engines(slower_batches) == {"single": "litert", "batch": "tensorflow"}
    # A fresh process: TensorFlow's start decides a short list, its batches a long one.
    assert litert_preferred(1, entry=slower_batches)
    assert litert_preferred(100, entry=slower_batches)
    assert not litert_preferred(5000, entry=slower_batches)
    # Both loaded (the app): the faster engine for one image.
    assert litert_preferred(1, tensorflow_loaded=True, entry=slower_batches)
    slower_single = _entry(litert_ms=45.0, litert_rate=80.0)
    assert not litert_preferred(1, tensorflow_loaded=True, entry=slower_single)
    assert litert_preferred(5000, entry=slower_single)
    # Unmeasured, or measured before LiteRT was: LiteRT (no TensorFlow start at all).
    assert litert_preferred(5000, entry={"inference": {}})
    monkeypatch.setenv("ALEXNET_STUDIO_ENGINE", "tensorflow")
    assert not litert_preferred(1, entry=slower_batches)


def test_a_prefetched_check_is_used_once_and_then_checked_again(job):
    from alexnet_tf import litert_classifier

    litert_classifier.prefetch(None)  # as the app's launch does, while Qt imports
    lite, reason = LiteClassifier.load(None)
    assert lite is not None, reason
    assert litert_classifier._prefetches == {}
    _, flatbuffer = cache_files(model_source(None))
    flatbuffer.write_bytes(b"damaged since")  # a later load checks the file again
    assert LiteClassifier.load(None)[0] is None


@pytest.mark.parametrize("figure", ["fast", -1.0, float("inf"), 10**400], ids=str)
def test_a_damaged_litert_figure_makes_the_measurement_not_measured(figure):
    from alexnet_tf import speed
    from alexnet_tf.machine import describe_machine
    from tests.core.test_speed import EPYC_AVX2, entry_for

    entry = entry_for(describe_machine(), EPYC_AVX2)
    entry["litert"] = {"single_ms": 25.0, "batch_images_per_s": 40.0}
    assert speed.checked_entry(entry) is entry
    entry["litert"]["single_ms"] = figure
    assert speed.checked_entry(entry) is None
