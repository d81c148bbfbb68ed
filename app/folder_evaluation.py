"""*Model > Evaluate on a folder…*: a model's accuracy on a labelled folder, in the background.

``alexnet_tf.folder_evaluation`` does the work (the same code as ``alexnet-studio evaluate``)
in a plain Python thread of its own, with its own copy of the chosen model, so the window and
the Classify page stay usable; TensorFlow is imported in that thread, never in the GUI thread.
The result is shown by the view of a training job's evaluation (``jobs.evaluation_view``).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
)

from alexnet_tf.errors import AlexNetStudioError

from .background import BackgroundRuns, RunsInBackground
from .jobs.evaluation_view import EvaluationView
from .log import short_error_message
from .model_worker import lower_thread_priority

logger = logging.getLogger("alexnet_studio.app.evaluation")


class FolderEvaluation(RunsInBackground, QObject):
    """Runs one evaluation at a time in a Python thread; results come back as signals.

    A ``threading.Thread``, not a ``QThread``, for the reason ``model_worker`` gives (a
    ``QThread`` deadlocked against TensorFlow).
    """

    progressed = Signal(int, int)  # files done, files in all
    evaluated = Signal(object)  # the report (dict)
    failed = Signal(str)
    cancelled = Signal(int, int)  # files done, files in all

    def __init__(self, parent=None):
        super().__init__(parent)
        self.runs = BackgroundRuns("folder-evaluation")

    def start(self, model_spec, folder, crops: str = "center") -> None:
        """Evaluate ``model_spec`` (``None``: ImageNet) on ``folder``; cancels a previous run.

        The previous run is not waited for (it may still be loading its model: seconds the
        window would freeze); it ends after its current batch and its signals are dropped.
        """
        self.runs.start(self._run, model_spec, Path(folder), crops)

    def _run(self, model_spec, folder: Path, crops: str, stop: threading.Event) -> None:
        lower_thread_priority()

        def emit(signal, *args) -> None:
            if self.runs.is_current(stop):  # a run replaced by a newer one reports nothing
                signal.emit(*args)

        try:
            from alexnet_tf.folder_evaluation import EvaluationCancelled, evaluate_folder
            from alexnet_tf.inference import Classifier

            classifier = Classifier.load(model_spec)
            report = evaluate_folder(
                classifier, folder, crops=crops,
                progress=lambda done, total: emit(self.progressed, done, total),
                should_stop=stop.is_set,
            )  # fmt: skip
        except EvaluationCancelled as error:
            emit(self.cancelled, error.done, error.total)
        except AlexNetStudioError as error:
            emit(self.failed, str(error))
        except Exception as error:
            logger.exception("Evaluating %s on %s failed", model_spec, folder)
            emit(self.failed, short_error_message(error))
        else:
            emit(self.evaluated, report)


def summary_text(report: dict) -> str:
    """The lines the evaluation view has no place for: speed, confusions, what was left out."""
    crops = "ten crops each" if report["crops"] == "10" else "centre crop"
    lines = [
        f"{report['num_examples']} images ({crops}) in {len(report['class_folders'])} class "
        f"folders · {report['images_per_second']:.1f} images/s"
    ]
    if report["most_confused"]:
        pairs = ", ".join(
            f"{p['true']} → {p['predicted']} ({p['count']})" for p in report["most_confused"][:5]
        )
        lines.append(f"Most confused: {pairs}")
    if report["unmatched_folders"]:
        names = ", ".join(report["unmatched_folders"])
        lines.append(f"Folders that match no class of the model (not evaluated): {names}")
    for entry in report.get("skipped", []):  # linked class folders, never followed
        lines.append(f"{Path(entry['path']).name}: {entry['reason']}")
    if report["errors"]:
        shown = "; ".join(f"{Path(e['image']).name}: {e['error']}" for e in report["errors"][:3])
        more = f" and {len(report['errors']) - 3} more" if len(report["errors"]) > 3 else ""
        lines.append(f"{len(report['errors'])} file(s) could not be read: {shown}{more}")
    return "\n".join(lines)


class FolderEvaluationDialog(QDialog):
    """Progress, Cancel, and the report of one folder evaluation (not modal)."""

    def __init__(self, evaluation: FolderEvaluation, parent=None):
        super().__init__(parent)
        self.evaluation = evaluation
        self.setWindowTitle("Evaluate on a folder")
        self.resize(1000, 700)
        self.title = QLabel()
        self.title.setObjectName("heading")
        self.title.setWordWrap(True)
        self.progress = QProgressBar()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self._on_cancel_clicked)
        # The AlexNet paper's test-time evaluation; toggling it evaluates the folder again.
        self.ten_crops = QCheckBox("Ten crops per image")
        self.ten_crops.setToolTip(
            "Average the four corner and centre crops and their mirror images, as in the "
            "AlexNet paper: about 10x slower, usually a point or two more accurate"
        )
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.view = EvaluationView(images_noun="images")
        row = QHBoxLayout()
        row.addWidget(self.progress, 1)
        row.addWidget(self.ten_crops)
        row.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addLayout(row)
        layout.addWidget(self.summary)
        layout.addWidget(self.view, 1)
        evaluation.progressed.connect(self._on_progressed)
        evaluation.evaluated.connect(self._on_evaluated)
        evaluation.failed.connect(self._on_failed)
        evaluation.cancelled.connect(self._on_cancelled)

    def crops(self) -> str:
        return "10" if self.ten_crops.isChecked() else "center"

    def begin(self, model_name: str, folder: Path) -> None:
        self.title.setText(f"{model_name} on {folder}")
        self.progress.setRange(0, 0)  # busy until the first batch: the model is loading
        self.progress.show()
        self.cancel_button.setText("Cancel")
        self.cancel_button.setEnabled(True)
        self.summary.setText("Loading the model…")
        self.view.set_report(None)
        self.view.accuracy.setText("The report appears here when every image is evaluated.")

    def _on_cancel_clicked(self) -> None:
        if self.cancel_button.text() == "Close":  # the run is over: the report stays
            self.close()
            return
        self.cancel_button.setEnabled(False)
        self.summary.setText("Stopping after the current batch…")
        self.evaluation.cancel()

    def _on_progressed(self, done: int, total: int) -> None:
        self.progress.setRange(0, total)
        self.progress.setValue(done)
        if self.cancel_button.isEnabled():
            self.summary.setText(f"Evaluating: {done} of {total} images")

    def _on_evaluated(self, report: dict) -> None:
        self._finish(summary_text(report))
        self.view.set_report(report)

    def _on_failed(self, message: str) -> None:
        self._finish(message)

    def _on_cancelled(self, done: int, total: int) -> None:
        self._finish(f"Cancelled after {done} of {total} images; no report was made.")

    def _finish(self, text: str) -> None:
        self.progress.hide()
        self.cancel_button.setText("Close")
        self.cancel_button.setEnabled(True)
        self.summary.setText(text)

    def shutdown(self) -> None:
        self.view.shutdown()


class FolderEvaluationUi(QObject):
    """The menu entry and its dialog (see ``install_folder_evaluation``)."""

    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.evaluation = FolderEvaluation(self)
        self.dialog = FolderEvaluationDialog(self.evaluation, window)
        self.action = QAction("Evaluate on a folder…", window)
        self.action.setStatusTip(
            "Accuracy of the current model on a folder with one sub-folder of images per class"
        )
        self.action.triggered.connect(self.choose_folder)
        self.folder: Path | None = None
        self.dialog.ten_crops.toggled.connect(self._on_crops_toggled)
        window.model_menu.addSeparator()
        window.model_menu.addAction(self.action)

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self.window, "Evaluate on a folder (one sub-folder per class)",
            self.window.settings.last_folder(),
        )  # fmt: skip
        if folder:
            self.evaluate(folder)

    def evaluate(self, folder) -> None:
        """Evaluate the model chosen in the toolbar on ``folder`` (with the crops the dialog's
        box says) and show the dialog."""
        self.folder = Path(folder)
        spec = self.window.model_chooser.current_spec()
        name = "ImageNet (BVLC AlexNet)" if spec is None else Path(spec).name
        self.dialog.begin(name, self.folder)
        self.dialog.show()
        self.dialog.raise_()
        self.evaluation.start(spec, self.folder, self.dialog.crops())

    def _on_crops_toggled(self) -> None:
        if self.folder is not None:
            self.evaluate(self.folder)

    def shutdown(self) -> None:
        self.evaluation.stop()
        self.dialog.shutdown()


def install_folder_evaluation(window) -> FolderEvaluationUi:
    """Add *Evaluate on a folder…* to ``window``'s Model menu."""
    return FolderEvaluationUi(window)
