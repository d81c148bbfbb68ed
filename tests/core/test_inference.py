"""Classification and analysis: top-k, every layer from one pass, safe model loading."""

from __future__ import annotations

import json
import os

import keras
import numpy as np
import pytest
from PIL import Image

from alexnet_tf.errors import ModelLoadError, WeightsNotInstalledError
from alexnet_tf.inference import IMAGENET_MODEL_NAME, Analysis, Classifier, Prediction
from alexnet_tf.labels import imagenet_labels
from alexnet_tf.model import NAMED_LAYERS, build_alexnet
from alexnet_tf.preprocess import center_crop, resize_for_network
from tests.model_fixtures import install_random_weights

SHAPES = {
    "conv1": (55, 55, 96), "norm1": (55, 55, 96), "pool1": (27, 27, 96),
    "conv2": (27, 27, 256), "norm2": (27, 27, 256), "pool2": (13, 13, 256),
    "conv3": (13, 13, 384), "conv4": (13, 13, 384), "conv5": (13, 13, 256),
    "pool5": (6, 6, 256), "fc6": (4096,), "fc7": (4096,), "fc8": (1000,),
}  # fmt: skip


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    """The ImageNet classifier, loaded from random weights installed in a private home."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ALEXNET_STUDIO_HOME", str(tmp_path_factory.mktemp("home")))
        install_random_weights()
        return Classifier.load()


@pytest.fixture(scope="module")
def job_folder(tmp_path_factory):
    """A finished fine-tuning job's model folder: 3 classes, labels.json beside model.keras."""
    job = tmp_path_factory.mktemp("jobs") / "cats-vs-dogs-1"
    (job / "model").mkdir(parents=True)
    keras.utils.set_random_seed(7)
    build_alexnet(num_classes=3).save(job / "model" / "model.keras")
    labels = {"labels": ["cat", "dog", "bird"], "preprocessing": "caffe-bvlc-227"}
    (job / "model" / "labels.json").write_text(json.dumps(labels))
    return job


def _images(count, seed=0):
    rng = np.random.default_rng(seed)
    sizes = [(300, 400), (227, 227), (500, 120), (64, 64)]
    return [
        Image.fromarray(rng.integers(0, 256, (*sizes[i % 4], 3), dtype=np.uint8))
        for i in range(count)
    ]


def test_imagenet_classifier_top5(classifier):
    assert classifier.name == IMAGENET_MODEL_NAME
    assert classifier.labels == imagenet_labels()
    predictions = classifier.classify(_images(1)[0])
    assert [p.rank for p in predictions] == [1, 2, 3, 4, 5]
    assert all(isinstance(p, Prediction) for p in predictions)
    assert all(p.label == imagenet_labels()[p.index] for p in predictions)
    probabilities = [p.probability for p in predictions]
    assert probabilities == sorted(probabilities, reverse=True)
    assert len({p.index for p in predictions}) == 5


def test_probabilities_sum_to_one(classifier):
    every = classifier.classify(_images(1, seed=3)[0], top=5000)  # clamped to the 1000 classes
    assert len(every) == 1000
    assert sum(p.probability for p in every) == pytest.approx(1.0, abs=1e-4)


def test_analyze_gives_every_layer_from_one_pass_and_matches_classify(classifier):
    image = _images(1, seed=5)[0]
    analysis = classifier.analyze(image)
    assert isinstance(analysis, Analysis)
    assert tuple(analysis.activations) == NAMED_LAYERS
    assert {k: v.shape for k, v in analysis.activations.items()} == SHAPES
    assert analysis.crop_rgb.dtype == np.uint8
    assert np.array_equal(analysis.crop_rgb, center_crop(resize_for_network(image)))
    classified = classifier.classify(image)
    assert [p.index for p in analysis.predictions] == [p.index for p in classified]
    for a, b in zip(analysis.predictions, classified, strict=True):
        assert a.probability == pytest.approx(b.probability, rel=1e-4, abs=1e-7)
    # fc8 is the softmax input: its softmax is the probabilities reported.
    logits = analysis.activations["fc8"].astype(np.float64)
    softmax = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    for p in analysis.predictions:
        assert softmax[p.index] == pytest.approx(p.probability, rel=1e-4, abs=1e-7)
    # ReLU layers are non-negative; pooling keeps the maximum of its window.
    assert analysis.activations["conv1"].min() >= 0
    assert analysis.activations["pool1"].max() == pytest.approx(analysis.activations["norm1"].max())


def test_classify_batch_matches_one_by_one_and_keeps_order(classifier):
    images = _images(34, seed=11)  # more than one internal batch of 32
    batched = classifier.classify_batch(images, top=3)
    assert len(batched) == 34
    for index in (0, 1, 2, 33):
        single = classifier.classify(images[index], top=3)
        assert [p.index for p in batched[index]] == [p.index for p in single]
        assert batched[index][0].probability == pytest.approx(single[0].probability, rel=1e-4)
    assert classifier.classify_batch([], top=3) == []


def test_top_must_be_a_positive_integer(classifier):
    with pytest.raises(ValueError, match="Received: top=0"):
        classifier.classify(_images(1)[0], top=0)


def test_without_weights_load_says_how_to_get_them():
    with pytest.raises(WeightsNotInstalledError, match="weights download"):
        Classifier.load()


def test_job_folder_loads_with_its_labels(job_folder):
    classifier = Classifier.load(job_folder)
    assert classifier.name == "cats-vs-dogs-1"
    assert classifier.labels == ("cat", "dog", "bird")
    predictions = classifier.classify(_images(1)[0], top=5)
    assert len(predictions) == 3
    assert {p.label for p in predictions} == {"cat", "dog", "bird"}
    assert sum(p.probability for p in predictions) == pytest.approx(1.0, abs=1e-5)
    assert Classifier.load(job_folder / "model" / "model.keras").name == "cats-vs-dogs-1"


def test_keras_file_without_labels_gets_numbered_classes(job_folder, tmp_path):
    alone = tmp_path / "my_model.keras"
    os.link(job_folder / "model" / "model.keras", alone)
    classifier = Classifier.load(alone)
    assert classifier.name == "my_model"
    assert classifier.labels == ("class 0", "class 1", "class 2")


def test_labels_that_do_not_fit_the_model_are_refused(job_folder, tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    os.link(job_folder / "model" / "model.keras", folder / "model.keras")
    (folder / "labels.json").write_text(json.dumps({"labels": ["a", "b"]}))
    with pytest.raises(ModelLoadError, match="2 labels but the model has 3 outputs"):
        Classifier.load(folder / "model.keras")


def test_a_model_with_a_lambda_layer_is_refused(tmp_path):
    inputs = keras.Input((227, 227, 3))
    x = keras.layers.Lambda(lambda t: t * 2.0)(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    path = tmp_path / "sneaky.keras"
    keras.Model(inputs, keras.layers.Dense(2)(x)).save(path)
    with pytest.raises(ModelLoadError, match="safe mode") as raised:
        Classifier.load(path)
    assert "sneaky.keras" in str(raised.value)


def test_unusable_model_files_are_refused_by_name(tmp_path):
    with pytest.raises(ModelLoadError, match="not found"):
        Classifier.load(tmp_path / "missing.keras")
    fake = tmp_path / "fake.keras"
    fake.write_text("hello")
    with pytest.raises(ModelLoadError, match="fake.keras: not a Keras model file"):
        Classifier.load(fake)
    with pytest.raises(ModelLoadError, match="no model/model.keras"):
        Classifier.load(tmp_path)
    inputs = keras.Input((64, 64, 3))
    small = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(inputs)))
    small.save(tmp_path / "small.keras")
    with pytest.raises(ModelLoadError, match="small.keras: wrong input shape"):
        Classifier.load(tmp_path / "small.keras")


def test_features_command_offers_exactly_the_named_layers():
    from alexnet_tf.cli.features import LAYER_NAMES

    assert LAYER_NAMES == NAMED_LAYERS
