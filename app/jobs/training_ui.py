"""Puts fine-tuning into the main window: "Classify", "Fine-tune" and "Jobs" pages, a Training
menu, the "Use this model" hook, and the keep-or-cancel question when the window closes.

The main window calls ``install_training(window)`` once; everything else happens here, so
the window's own module stays about classifying.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QEvent, QObject
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMessageBox, QTabWidget

from .finetune_page import FinetunePage
from .job_process import JobRunner
from .jobs_panel import JobsPanel

KEEP, CANCEL, STAY = "keep", "cancel", "stay"


class TrainingUi(QObject):
    """The fine-tuning part of the main window (see ``install_training``)."""

    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.runner = JobRunner(self)
        self.finetune_page = FinetunePage()
        self.jobs_panel = JobsPanel(self.runner)
        self.finetune_page.start_requested.connect(self._on_start_requested)
        self.jobs_panel.use_model_requested.connect(self.use_model)
        self.jobs_panel.notice_requested.connect(window.show_notice)
        self.ask_close_choice = self._ask_close_choice  # replaceable (tests answer directly)
        self._closed = False

        classify = window.centralWidget()
        self.pages = QTabWidget()
        self.pages.setObjectName("pages")
        self.pages.setDocumentMode(True)
        self.pages.addTab(classify, "Classify")
        self.pages.addTab(self.finetune_page, "Fine-tune")
        self.pages.addTab(self.jobs_panel, "Jobs")
        self.classify_page = classify
        window.setCentralWidget(self.pages)
        self._add_menu()
        # Images dropped on the window (outside the Fine-tune page) are classified: show that.
        window.paths_dropped.connect(lambda _: self.pages.setCurrentWidget(classify))
        window.installEventFilter(self)

    def _add_menu(self) -> None:
        menu = self.window.menuBar().addMenu("&Training")

        def add(text, slot, shortcut):
            action = QAction(text, self.window)
            action.setShortcut(QKeySequence(shortcut))
            action.triggered.connect(slot)
            menu.addAction(action)
            return action

        self.finetune_action = add("Fine-tune on a folder…", self.show_finetune, "Ctrl+T")
        self.jobs_action = add("Jobs", self.show_jobs, "Ctrl+J")
        add("Classify", lambda: self.pages.setCurrentWidget(self.classify_page), "Ctrl+K")

    # ------------------------------------------------------------------ public
    def show_finetune(self) -> None:
        self.pages.setCurrentWidget(self.finetune_page)

    def show_jobs(self) -> None:
        self.pages.setCurrentWidget(self.jobs_panel)

    def start_job(self, folder, settings: dict) -> Path:
        """Launch a training job on ``folder`` and show it in the Jobs panel."""
        job_dir = self.runner.start_training(folder, settings)
        self.show_jobs()
        self.jobs_panel.select_job(job_dir)
        return job_dir

    def use_model(self, job_dir: str) -> None:
        """Classify with the model of ``job_dir`` (its own class names) and show Classify."""
        self.window.model_chooser.choose(str(job_dir))
        self.pages.setCurrentWidget(self.classify_page)

    def confirm_close(self) -> bool:
        """Ask what to do with running jobs the app launched; False keeps the window open."""
        running = self.runner.launched_active_jobs()
        if not running:
            return True
        choice = self.ask_close_choice([p.name for p in running])
        if choice == STAY:
            return False
        if choice == CANCEL:
            # Wait until they are gone (a stopped or stuck one is killed after a grace
            # period): the user asked for no job to outlive the app.
            self.window.statusBar().showMessage("Stopping the training jobs…")
            self.window.repaint()
            self.runner.stop_jobs(running)
        return True

    def shutdown(self) -> None:
        """Stop timers and threads (running jobs are separate processes and are left alone)."""
        self.runner.stop()
        self.finetune_page.shutdown()
        self.jobs_panel.shutdown()

    # ------------------------------------------------------------------ internals
    def _on_start_requested(self, folder: str, settings: dict) -> None:
        self.start_job(folder, settings)

    def _ask_close_choice(self, names: list[str]) -> str:
        box = QMessageBox(self.window)
        box.setWindowTitle("Training jobs are running")
        box.setText(
            f"{len(names)} training job(s) are running: {', '.join(names)}.\n\n"
            "Keep them running after the app closes (it shows them again when reopened), "
            "or cancel them (each saves a checkpoint and can be resumed)?"
        )
        keep = box.addButton("Keep running", QMessageBox.ButtonRole.AcceptRole)
        cancel = box.addButton("Cancel jobs", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton("Don't close", QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(keep)
        box.exec()
        clicked = box.clickedButton()
        return KEEP if clicked is keep else CANCEL if clicked is cancel else STAY

    def eventFilter(self, watched, event) -> bool:  # noqa: N802
        # The window's close goes through here first: a "Don't close" stops it.
        if watched is self.window and event.type() == QEvent.Type.Close and not self._closed:
            if not self.confirm_close():
                event.ignore()
                return True
            self._closed = True
            self.shutdown()
        return False


def install_training(window) -> TrainingUi:
    """Add the Fine-tune and Jobs pages to ``window`` (a ``MainWindow``)."""
    return TrainingUi(window)
