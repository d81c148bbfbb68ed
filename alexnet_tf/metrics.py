"""Evaluation of a classifier's predictions: accuracy, confusion matrix, per-class metrics.

Pure numpy, so it runs anywhere (and is what a job's ``eval.json`` holds).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# Misclassified examples listed in the report, most confident mistakes first.
MAX_MISCLASSIFIED = 200


def _ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator``, or 0 where it is undefined (nothing to divide by)."""
    return float(numerator / denominator) if denominator else 0.0


def evaluate_predictions(
    y_true,
    probabilities,
    class_names: Sequence[str],
    paths: Sequence[str] | None = None,
) -> dict:
    """Compare predicted class probabilities with the true labels.

    Args:
        y_true: ``(n,)`` integer labels in ``[0, num_classes)``.
        probabilities: ``(n, num_classes)`` scores (softmax output); the arg-max is the
            prediction.
        class_names: ``num_classes`` names; ``class_names[i]`` is label ``i``.
        paths: optional ``n`` file paths, named in the list of misclassified examples.

    Returns:
        A JSON-ready dict: ``top1``; ``top5`` (only with 5 or more classes);
        ``num_examples``; ``classes``; ``confusion_matrix`` (rows are true classes, columns
        predicted ones); ``per_class`` (``class``, ``precision``, ``recall``, ``f1``,
        ``support``; 0 where undefined); ``misclassified`` (``path``, ``true``,
        ``predicted``, ``probability`` of the predicted class; most confident first, at most
        ``MAX_MISCLASSIFIED``).
    """
    y_true = np.asarray(y_true).astype(np.int64).reshape(-1)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    class_names = [str(name) for name in class_names]
    num_classes = len(class_names)
    if probabilities.ndim != 2 or probabilities.shape[1] != num_classes:
        raise ValueError(
            f"probabilities must have shape (n, {num_classes}) to match class_names. "
            f"Received: probabilities.shape={probabilities.shape}"
        )
    if probabilities.shape[0] != y_true.shape[0]:
        raise ValueError(
            "y_true and probabilities must have the same number of examples. Received: "
            f"len(y_true)={y_true.shape[0]}, len(probabilities)={probabilities.shape[0]}"
        )
    if y_true.size and (y_true.min() < 0 or y_true.max() >= num_classes):
        raise ValueError(
            f"labels must be in [0, {num_classes}). Received: min={y_true.min()}, "
            f"max={y_true.max()}"
        )
    if paths is not None and len(paths) != y_true.shape[0]:
        raise ValueError(
            f"paths must name every example. Received: len(paths)={len(paths)}, n={y_true.shape[0]}"
        )
    # The k highest scores per example, ties broken by class order (a stable sort).
    top = np.argsort(-probabilities, axis=1, kind="stable")[:, : min(5, num_classes)]
    scores = np.take_along_axis(probabilities, top, axis=1)
    return evaluate_top_k(y_true, top, scores, class_names, paths)


def evaluate_top_k(
    y_true,
    top_indices,
    top_probabilities,
    class_names: Sequence[str],
    paths: Sequence[str] | None = None,
) -> dict:
    """``evaluate_predictions`` from each example's highest scores only.

    A folder of 50,000 images scored over 1,000 classes would need 400 MB of probabilities;
    the report needs only each example's five best classes.

    Args:
        y_true: ``(n,)`` integer labels.
        top_indices: ``(n, k)`` class indices, highest score first (``k`` >= 5 for top-5, or
            every class when there are fewer than 5).
        top_probabilities: ``(n, k)`` the scores of those classes.
        class_names: ``num_classes`` names.
        paths: optional ``n`` file paths.

    Returns:
        The report of ``evaluate_predictions``.
    """
    y_true = np.asarray(y_true).astype(np.int64).reshape(-1)
    top_indices = np.asarray(top_indices, np.int64)
    top_probabilities = np.asarray(top_probabilities, np.float64)
    class_names = [str(name) for name in class_names]
    num_classes = len(class_names)
    n = int(y_true.shape[0])
    predicted = top_indices[:, 0] if n else np.zeros(0, np.int64)

    confusion = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(confusion, (y_true, predicted), 1)
    true_positive = np.diag(confusion)
    predicted_count = confusion.sum(axis=0)
    support = confusion.sum(axis=1)
    per_class = []
    for i, name in enumerate(class_names):
        precision = _ratio(true_positive[i], predicted_count[i])
        recall = _ratio(true_positive[i], support[i])
        per_class.append(
            {
                "class": name,
                "precision": precision,
                "recall": recall,
                "f1": _ratio(2 * precision * recall, precision + recall),
                "support": int(support[i]),
            }
        )

    report = {
        "top1": _ratio(int(true_positive.sum()), n),
        "num_examples": n,
        "classes": class_names,
        "confusion_matrix": confusion.tolist(),
        "per_class": per_class,
    }
    if num_classes >= 5:
        top5 = top_indices[:, :5]
        report["top5"] = _ratio(int((top5 == y_true[:, None]).any(axis=1).sum()), n)

    wrong = np.flatnonzero(predicted != y_true)
    confidence = top_probabilities[wrong, 0] if wrong.size else np.zeros(0)
    order = wrong[np.argsort(-confidence, kind="stable")][:MAX_MISCLASSIFIED]
    report["misclassified"] = [
        {
            "path": None if paths is None else str(paths[i]),
            "true": class_names[y_true[i]],
            "predicted": class_names[predicted[i]],
            "probability": float(top_probabilities[i, 0]),
        }
        for i in order
    ]
    report["num_misclassified"] = int(wrong.size)
    return report
