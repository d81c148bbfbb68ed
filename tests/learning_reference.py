"""The reference a fine-tuning job is judged against: a logistic regression on the job's own
cached fc7 features (centre crops), C chosen by 3-fold cross-validation on its training images,
scored on its validation images. Shared by tests/e2e/test_learning.py and
benchmarks/learning.py (scikit-learn is a test and benchmark dependency, never a runtime one).

The regression is solved in the span of the training images' features (a PCA that keeps every
component): an L2-penalised linear model's weights always lie in that span, so the minimiser
is the same as on all 4096 features (on the test folder's three seeds: the same
cross-validation scores for every C, the same validation accuracy), and L-BFGS takes 2-16 s
per seed instead of 21-48 s (measured on the busy 2-core test machine). L-BFGS stops at its
tolerance, not at the exact minimiser: on benchmarks/learning.py's textures folder (top mode,
seeds 1 and 2) the reference moved by one validation image of 24 each way (0.83 -> 0.875,
0.88 -> 0.83), so docs/finetune.md's reference column, made before, can differ by that much."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def job_split(folder, seed: int, val_split: float = 0.2):
    """(labels, train indices, validation indices) of a job on ``folder``, as the job made them."""
    from alexnet_tf.data.scan import scan_dataset
    from alexnet_tf.training.pipeline import split_train_val

    labels = np.array([item.label for item in scan_dataset(folder).items])
    return (labels, *split_train_val(labels, val_split, seed))


def logistic_regression_accuracy(job_dir, folder, seed: int) -> float:
    """Validation accuracy of the cross-validated logistic regression on the job's features."""
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    features = np.load(Path(job_dir) / "cache" / "features-fc7-2view.npy")[:, 0]
    labels, train_idx, val_idx = job_split(folder, seed)
    search = GridSearchCV(
        make_pipeline(StandardScaler(), PCA(), LogisticRegression(max_iter=3000)),
        {"logisticregression__C": [0.001, 0.01, 0.1, 1.0]},
        cv=3,
    )
    search.fit(features[train_idx], labels[train_idx])
    return float(search.score(features[val_idx], labels[val_idx]))
