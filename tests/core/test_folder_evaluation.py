"""Accuracy on a labelled folder, on folders built so that the right answers are known exactly.

The model's own predictions for generated images are computed first (through ``classify``'s
path), then each image is filed under a class chosen to be right, in the top five, or wrong.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from alexnet_tf.errors import DatasetError
from tests.eval_folders import file_under, ranked_classes, write_images
from tests.model_fixtures import make_job

LABELS = ["blobs", "stripes", "checkers"]


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    """A 3-class fine-tuned model (random weights, peaked softmax) in a job folder."""
    return make_job(tmp_path_factory.mktemp("job") / "job", LABELS)


def test_fine_tuned_model_exactly_k_of_n_right(job, tmp_path):
    from alexnet_tf.folder_evaluation import evaluate_folder
    from alexnet_tf.inference import Classifier

    classifier = Classifier.load(job)
    paths = write_images(tmp_path / "loose", 9, seed=1)
    ranks = ranked_classes(classifier, paths)
    root = tmp_path / "val"
    truth = {}
    for i, (path, ranked) in enumerate(zip(paths, ranks, strict=True)):
        true = ranked[0] if i < 5 else ranked[1]  # 5 right, 4 wrong (second choice)
        truth[file_under(root, path, LABELS[true]).name] = (true, ranked[0])
    (root / "holiday").mkdir()  # no such class: reported, not evaluated
    (root / "holiday" / "beach.jpg").write_bytes(b"not evaluated")
    bad = root / LABELS[0] / "broken.jpg"  # may create the class folder
    bad.write_bytes(b"\xff\xd8\xff\xe0 truncated")

    report = evaluate_folder(classifier, root)
    assert report["top1"] == pytest.approx(5 / 9)
    assert report["num_examples"] == 9 and "top5" not in report  # 3 classes
    assert report["unmatched_folders"] == ["holiday"]
    assert report["errors"] == [{"image": str(bad), "error": "the file is truncated "
                                 "(incomplete download or copy?)"}]  # fmt: skip
    expected = np.zeros((3, 3), int)
    for true, predicted in truth.values():
        expected[true, predicted] += 1
    assert report["confusion_matrix"] == expected.tolist()
    for i, row in enumerate(report["per_class"]):
        assert row["support"] == expected[i].sum()
        assert row["recall"] == pytest.approx(expected[i, i] / max(expected[i].sum(), 1))
    pairs = {(p["true"], p["predicted"]): p["count"] for p in report["most_confused"]}
    wrong = {(LABELS[t], LABELS[p]): expected[t, p] for t in range(3) for p in range(3) if t != p}
    assert pairs == {pair: count for pair, count in wrong.items() if count}
    assert len(report["misclassified"]) == 4 and report["images_per_second"] > 0
    json.dumps(report, allow_nan=False)  # what --json prints


def test_ten_crops_average_the_corner_centre_and_mirrored_crops(job, tmp_path):
    from alexnet_tf.folder_evaluation import evaluate_folder
    from alexnet_tf.images import load_image
    from alexnet_tf.inference import Classifier
    from alexnet_tf.preprocess import normalize, resize_for_network

    classifier = Classifier.load(job)
    paths = write_images(tmp_path / "loose", 4, seed=2)
    # The ten crops, cut by hand: corners at 0 and 29, the centre at 14, then mirrored.
    resized = np.stack([resize_for_network(load_image(p)) for p in paths])
    crops = [resized[:, y : y + 227, x : x + 227] for y, x in
             ((0, 0), (0, 29), (29, 0), (29, 29), (14, 14))]  # fmt: skip
    crops += [crop[:, :, ::-1] for crop in crops]
    by_hand = np.mean([classifier.model.predict_on_batch(normalize(c)) for c in crops], axis=0)
    np.testing.assert_allclose(classifier.probabilities(resized, "10"), by_hand, atol=1e-5)

    root = tmp_path / "val"
    for path, row in zip(paths, by_hand, strict=True):  # all filed under their 10-crop answer
        file_under(root, path, LABELS[int(row.argmax())])
    assert evaluate_folder(classifier, root, crops="10")["top1"] == 1.0


def test_imagenet_folders_by_wordnet_id_or_name_with_known_top1_and_top5(tmp_path):
    from alexnet_tf.folder_evaluation import evaluate_folder
    from alexnet_tf.inference import Classifier
    from alexnet_tf.labels import imagenet_labels, imagenet_wnids
    from tests.model_fixtures import install_random_weights

    install_random_weights()
    classifier = Classifier.load(None)
    paths = write_images(tmp_path / "loose", 10, seed=3)
    ranks = ranked_classes(classifier, paths)
    wnids, names = imagenet_wnids(), imagenet_labels()
    root = tmp_path / "val"
    for i, (path, ranked) in enumerate(zip(paths, ranks, strict=True)):
        # 4 right; 3 with the true class second (top-5 right); 3 with it 10th (both wrong)
        true = ranked[0] if i < 4 else ranked[1] if i < 7 else ranked[9]
        file_under(root, path, names[true] if i == 0 else wnids[true])
    (root / "crane").mkdir()  # a bird and a machine in ImageNet: ambiguous, not guessed
    (root / "crane" / "x.jpg").write_bytes(b"x")

    report = evaluate_folder(classifier, root)
    assert report["top1"] == pytest.approx(0.4) and report["top5"] == pytest.approx(0.7)
    assert report["unmatched_folders"] == ["crane"]
    assert report["class_folders"][names[ranks[0][0]]] == names[ranks[0][0]]
    # 1000 classes: per-class rows and the matrix only for the classes in the folder.
    present = sorted({row["class"] for row in report["per_class"]})
    assert len(report["classes"]) == len(present) <= 10
    assert len(report["confusion_matrix"]) == len(report["classes"])


def test_folders_that_cannot_be_evaluated_are_explained(job, tmp_path):
    from alexnet_tf.folder_evaluation import evaluate_folder
    from alexnet_tf.inference import Classifier

    classifier = Classifier.load(job)
    with pytest.raises(DatasetError, match="no such folder"):
        evaluate_folder(classifier, tmp_path / "missing")
    (tmp_path / "cats").mkdir()
    (tmp_path / "dogs").mkdir()
    with pytest.raises(DatasetError, match=r"no sub-folder matches.*'cats', 'dogs'.*'blobs'"):
        evaluate_folder(classifier, tmp_path)
    (tmp_path / "Blobs").mkdir()  # case does not matter when only one class fits
    with pytest.raises(DatasetError, match="hold no image files"):
        evaluate_folder(classifier, tmp_path)
