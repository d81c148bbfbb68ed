"""Taking dropped files and folders: one handler for every widget that accepts them.

A drop only turns URLs into paths and hands them on (napari's rule); what the paths become
is the receiver's business.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QWidget

from .image_sources import paths_from_mime_data


class PathDrops(QObject):
    """Makes ``widget`` take drops of local files and folders and call ``on_paths(paths)``.

    An event filter rather than overridden ``dropEvent`` methods, so that any widget (the
    main window, the Fine-tune page, its folder box) gets the same behaviour in one line.
    """

    def __init__(self, widget: QWidget, on_paths: Callable[[list[Path]], None]):
        super().__init__(widget)
        self._on_paths = on_paths
        widget.setAcceptDrops(True)
        widget.installEventFilter(self)

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 (Qt's name)
        if event.type() == QEvent.Type.DragEnter:
            if event.mimeData().hasUrls():
                event.acceptProposedAction()
            return True
        if event.type() == QEvent.Type.Drop:
            paths = paths_from_mime_data(event.mimeData())
            if paths:
                event.acceptProposedAction()
                self._on_paths(paths)
            return True
        return False
