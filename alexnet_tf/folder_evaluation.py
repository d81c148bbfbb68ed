"""A model's accuracy on a labelled folder: one sub-folder of images per class.

Used by ``alexnet-studio evaluate`` and the app's *Evaluate on a folder…*. Sub-folders are
matched to the model's classes by name, never guessed: for the ImageNet model a WordNet ID
(``n01440764``, as ILSVRC2012 val is usually sorted), the full label (``tench, Tinca tinca``) or
one of its synonyms when only one class has it; for a fine-tuned model its class names. Images
go through the project's one loader and preprocessing (``batches``, ``Classifier``), and the
report has the shape of a training job's ``eval.json`` (``metrics``), with a few
additions, so the app shows both with the same view.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import AlexNetStudioError, DatasetError
from .folder_walk import LINK, list_folder
from .images import find_image_files
from .labels import imagenet_labels, imagenet_wnids
from .metrics import evaluate_top_k

CHUNK_SIZE = 32  # images decoded and evaluated together; progress and cancel points
MAX_CONFUSION_CLASSES = 50  # a larger confusion matrix is unreadable; most_confused instead
MOST_CONFUSED = 10


class EvaluationCancelled(AlexNetStudioError):  # noqa: N818
    """The evaluation stopped on request; ``done`` of ``total`` images were evaluated."""

    def __init__(self, done: int, total: int):
        self.done, self.total = done, total
        super().__init__(f"cancelled after {done} of {total} images; no report was made")


@dataclass
class ClassFolders:
    """Which sub-folders of an evaluation folder are which class.

    Attributes:
        matched: sub-folder name -> class index, in sorted folder order.
        unmatched: sub-folders that match no class (reported, left out).
        skipped: ``(path, reason)`` of the links among the sub-folders, not followed.
    """

    matched: dict[str, int] = field(default_factory=dict)
    unmatched: list[str] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)


def _lookup(labels, wnids) -> dict[str, int]:
    """Every accepted folder name -> class index, strongest rule first."""
    names: dict[str, int] = {}
    if wnids is not None:
        names.update({wnid: index for index, wnid in enumerate(wnids)})
    counts = Counter(labels)
    for index, label in enumerate(labels):
        if counts[label] == 1:
            names.setdefault(label, index)
    folded: dict[str, set[int]] = {}
    for index, label in enumerate(labels):
        synonyms = [part.strip() for part in label.split(",")] if wnids is not None else []
        for name in {label, *synonyms}:
            folded.setdefault(name.casefold(), set()).add(index)
    # Names, case-insensitive names and ImageNet synonyms count only when they name one class
    # (ImageNet has two classes called "crane", a bird and a machine: such a folder is
    # reported, not guessed).
    for name, indices in folded.items():
        if len(indices) == 1:
            names.setdefault(name, next(iter(indices)))
    return names


def is_link(reason: str) -> bool:
    """Whether a ``folder_walk`` reason is that of a symbolic link."""
    return reason.startswith(LINK)


def match_class_folders(folder: Path, labels, wnids=None) -> ClassFolders:
    """Match the sub-folders of ``folder`` to classes.

    Args:
        folder: the evaluation folder.
        labels: the model's class names, in output order.
        wnids: the ImageNet WordNet IDs in the same order, for the ImageNet model.

    Raises:
        DatasetError: ``folder`` is not a folder, or has no sub-folders.
    """
    folder = Path(folder)
    if not folder.is_dir():
        reason = "no such folder" if not folder.exists() else "not a folder"
        raise DatasetError(f"{folder}: {reason}; give a folder with one sub-folder per class.")
    names = _lookup(labels, wnids)
    entries = list_folder(folder)
    # A linked class folder is never followed (a link to the folder itself would count its
    # images again under another class); it is reported with the other skipped entries.
    result = ClassFolders(skipped=[(path, why) for path, why in entries.skipped if is_link(why)])
    subfolders = entries.folders
    if not subfolders:
        links = "".join(f"; {path.name}: {reason}" for path, reason in result.skipped)
        raise DatasetError(f"{folder}: has no sub-folders; put each class's images in a "
                           f"sub-folder named after the class{links}.")  # fmt: skip
    for path in subfolders:
        index = names.get(path.name, names.get(path.name.casefold()))
        if index is None:
            result.unmatched.append(path.name)
        else:
            result.matched[path.name] = index
    return result


def _no_match_message(folder: Path, found: ClassFolders, labels, wnids) -> str:
    shown = ", ".join(repr(name) for name in found.unmatched[:5])
    more = f" and {len(found.unmatched) - 5} more" if len(found.unmatched) > 5 else ""
    if wnids is not None:
        expected = f"WordNet IDs such as {wnids[0]!r} or class names such as {labels[0]!r}"
    else:
        expected = "the model's class names: " + ", ".join(repr(n) for n in labels[:10])
    return (f"{folder}: no sub-folder matches a class of the model ({shown}{more}); "
            f"name them after {expected}.")  # fmt: skip


def evaluate_folder(
    classifier,
    folder,
    *,
    crops: str = "center",
    per_image: bool = False,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> dict:
    """Evaluate ``classifier`` on a labelled folder.

    Args:
        classifier: an ``inference.Classifier``.
        folder: one sub-folder of images per class (images may sit in nested folders).
        crops: ``"center"`` or ``"10"`` (see ``Classifier.probabilities``).
        per_image: also return ``images``: one ``image``, ``true``, ``predicted``,
            ``probability``, ``top5`` (the true class among the five best) per image.
        progress: called with ``(files done, files in all)`` after each chunk.
        should_stop: polled after each chunk; when it returns True the evaluation stops.

    Returns:
        The ``metrics`` report (``top1``, ``top5`` with 5 or more classes,
        ``per_class``, ``misclassified``, ``classes`` and ``confusion_matrix`` when there are
        at most ``MAX_CONFUSION_CLASSES`` of them), plus ``most_confused`` (``true``,
        ``predicted``, ``count``), ``class_folders`` (folder -> class), ``unmatched_folders``,
        ``skipped`` (``path``, ``reason``: linked class folders, not followed), ``errors``
        (``image``, ``error``: files that could not be read), ``crops``, ``model``,
        ``folder``, ``seconds`` and ``images_per_second``.

    Raises:
        DatasetError: the folder cannot be evaluated (see the message).
        EvaluationCancelled: ``should_stop`` returned True.
    """
    from .batches import iter_loaded_chunks

    folder = Path(folder)
    labels = classifier.labels
    # The ImageNet classes (the installed model, or a 1000-class file without labels.json)
    # also answer to their WordNet IDs.
    wnids = imagenet_wnids() if tuple(labels) == imagenet_labels() else None
    found = match_class_folders(folder, labels, wnids)
    if not found.matched:
        raise DatasetError(_no_match_message(folder, found, labels, wnids))
    items, truth = [], {}
    for name, index in found.matched.items():
        files, passed_over = find_image_files(folder / name, folder)
        for path, problem in [(file, None) for file in files] + passed_over:
            items.append((path, problem))
            truth[path] = index
    if not items:
        raise DatasetError(f"{folder}: the class folders hold no image files.")

    started = time.perf_counter()
    paths, y_true, top_indices, top_scores, errors = [], [], [], [], []
    k = min(5, len(labels))
    done = 0
    for loaded in iter_loaded_chunks(items, CHUNK_SIZE):
        good = [item for item in loaded if item.error is None]
        errors += [{"image": str(item.path), "error": item.error} for item in loaded if item.error]
        if good:
            probabilities = classifier.probabilities(np.stack([i.resized for i in good]), crops)
            order = np.argsort(-probabilities, axis=1, kind="stable")[:, :k]
            top_indices.append(order)
            top_scores.append(np.take_along_axis(probabilities, order, axis=1))
            paths += [str(item.path) for item in good]
            y_true += [truth[item.path] for item in good]
        done += len(loaded)
        if progress is not None:
            progress(done, len(items))
        if should_stop is not None and should_stop():
            raise EvaluationCancelled(done, len(items))
    seconds = time.perf_counter() - started
    if not paths:
        raise DatasetError(f"{folder}: none of its {len(items)} image files could be read.")

    top_indices, top_scores = np.concatenate(top_indices), np.concatenate(top_scores)
    report = evaluate_top_k(np.asarray(y_true), top_indices, top_scores, labels, paths)
    if per_image:
        report["images"] = [
            {
                "image": path,
                "true": labels[true],
                "predicted": labels[top[0]],
                "probability": float(score[0]),
                "top5": bool(true in top[:5]),
            }
            for path, true, top, score in zip(paths, y_true, top_indices, top_scores, strict=True)
        ]
    _shape_for_many_classes(report)
    report.update(
        folder=str(folder),
        model=classifier.name,
        crops=crops,
        class_folders={name: labels[index] for name, index in found.matched.items()},
        unmatched_folders=found.unmatched,
        skipped=[{"path": str(path), "reason": reason} for path, reason in found.skipped],
        errors=errors,
        seconds=seconds,
        images_per_second=len(paths) / seconds if seconds > 0 else 0.0,
    )
    return report


def _shape_for_many_classes(report: dict) -> None:
    """Add ``most_confused``; keep the matrix and the per-class rows readable for 1000 classes.

    With more than ``MAX_CONFUSION_CLASSES`` classes (ImageNet), only the classes that have
    images in the folder keep a per-class row, and the confusion matrix is kept only among
    them, when they are few enough, with ``confusion_other``: per kept row, the predictions of
    the classes left out (so each row still adds up to its class's images).
    """
    confusion = np.asarray(report["confusion_matrix"], np.int64)
    classes = report["classes"]
    off_diagonal = confusion.copy()
    np.fill_diagonal(off_diagonal, 0)
    flat = np.argsort(-off_diagonal, axis=None, kind="stable")[:MOST_CONFUSED]
    report["most_confused"] = [
        {"true": classes[i], "predicted": classes[j], "count": int(off_diagonal[i, j])}
        for i, j in zip(*np.unravel_index(flat, confusion.shape), strict=True)
        if off_diagonal[i, j] > 0
    ]
    if len(classes) <= MAX_CONFUSION_CLASSES:
        return
    present = np.flatnonzero(confusion.sum(axis=1))
    report["per_class"] = [report["per_class"][i] for i in present]
    report["classes"] = [classes[i] for i in present]
    if len(present) <= MAX_CONFUSION_CLASSES:
        kept = confusion[np.ix_(present, present)]
        report["confusion_matrix"] = kept.tolist()
        report["confusion_other"] = (confusion[present].sum(axis=1) - kept.sum(axis=1)).tolist()
    else:
        del report["confusion_matrix"]
