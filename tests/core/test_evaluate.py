"""Evaluation report: accuracy, top-5, confusion matrix, per-class metrics, mistakes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from alexnet_tf.metrics import evaluate_predictions


def one_hot_scores(predicted, num_classes, confidence=0.9):
    scores = np.full((len(predicted), num_classes), (1 - confidence) / (num_classes - 1))
    scores[np.arange(len(predicted)), predicted] = confidence
    return scores


def test_three_classes_matrix_and_per_class_metrics():
    y_true = [0, 0, 0, 1, 1, 2]
    predicted = [0, 0, 1, 1, 1, 0]
    report = evaluate_predictions(
        y_true, one_hot_scores(predicted, 3), ["cat", "dog", "owl"], [f"f{i}.jpg" for i in range(6)]
    )
    assert report["num_examples"] == 6
    assert report["top1"] == pytest.approx(4 / 6)
    assert "top5" not in report  # fewer than 5 classes: top-5 would always be 100%
    assert report["classes"] == ["cat", "dog", "owl"]
    # Rows are the true class, columns the predicted one.
    assert report["confusion_matrix"] == [[2, 1, 0], [0, 2, 0], [1, 0, 0]]
    cat, dog, owl = report["per_class"]
    assert cat == {
        "class": "cat",
        "precision": pytest.approx(2 / 3),
        "recall": pytest.approx(2 / 3),
        "f1": pytest.approx(2 / 3),
        "support": 3,
    }
    assert dog["precision"] == pytest.approx(2 / 3) and dog["recall"] == 1.0
    assert dog["f1"] == pytest.approx(0.8)
    # Never predicted and never right: undefined metrics are reported as 0, not NaN.
    assert owl == {"class": "owl", "precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    mistakes = {(m["path"], m["true"], m["predicted"]) for m in report["misclassified"]}
    assert mistakes == {("f2.jpg", "cat", "dog"), ("f5.jpg", "owl", "cat")}
    assert all(m["probability"] == pytest.approx(0.9) for m in report["misclassified"])
    json.dumps(report, allow_nan=False)  # what eval.json stores


def test_top5_with_five_or_more_classes():
    rng = np.random.default_rng(0)
    n, k = 200, 8
    y_true = rng.integers(0, k, n)
    scores = rng.random((n, k))
    report = evaluate_predictions(y_true, scores, [f"c{i}" for i in range(k)])
    ranks = (scores > scores[np.arange(n), y_true][:, None]).sum(axis=1)
    assert report["top5"] == pytest.approx(np.mean(ranks < 5))
    assert report["top1"] == pytest.approx(np.mean(ranks == 0))
    assert report["top1"] <= report["top5"] <= 1.0
    assert np.sum(report["confusion_matrix"]) == n
    assert all(m["path"] is None for m in report["misclassified"])


def test_perfect_predictions_and_most_confident_mistakes_first():
    report = evaluate_predictions([0, 1, 2, 3, 4], np.eye(5), list("abcde"))
    assert report["top1"] == report["top5"] == 1.0
    assert report["misclassified"] == []
    assert [c["f1"] for c in report["per_class"]] == [1.0] * 5

    scores = np.array([[0.4, 0.6], [0.05, 0.95], [0.3, 0.7]])
    report = evaluate_predictions([0, 0, 0], scores, ["x", "y"], ["p0", "p1", "p2"])
    assert [m["path"] for m in report["misclassified"]] == ["p1", "p2", "p0"]


def test_empty_and_inconsistent_inputs():
    report = evaluate_predictions(np.zeros(0, int), np.zeros((0, 2)), ["a", "b"])
    assert report["top1"] == 0.0 and report["num_examples"] == 0
    with pytest.raises(ValueError, match="shape"):
        evaluate_predictions([0, 1], np.zeros((2, 3)), ["a", "b"])
    with pytest.raises(ValueError, match="same number"):
        evaluate_predictions([0, 1, 1], np.zeros((2, 2)), ["a", "b"])
    with pytest.raises(ValueError, match="labels must be"):
        evaluate_predictions([0, 2], np.zeros((2, 2)), ["a", "b"])
