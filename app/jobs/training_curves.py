"""Loss and accuracy of a job, training and validation, drawn with pyqtgraph.

The x axis is in epochs: a step record sits at ``epoch + step / steps``, an epoch record at
the end of its epoch, so the noisy per-step training loss and the per-epoch averages and
validation values line up. A dashed vertical line marks the epoch whose weights the job keeps
(or, while it runs, the best epoch so far).
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QVBoxLayout, QWidget

from .. import style

TRAIN_STEP = "#5b9cff55"
TRAIN = "#5b9cff"
VAL = "#f0b429"
KEPT = "#7bd88f"


class TrainingCurves(QWidget):
    """Two plots, loss and accuracy; ``set_metrics(Metrics)`` redraws them.

    The plots are made the first time the widget is shown (or asked for its points):
    importing pyqtgraph and building them took a quarter of a second of the window's start,
    for a tab most launches never open. Until then the widget keeps what it was given.
    """

    def __init__(self, parent=None):
        super().__init__(parent)
        self._metrics = None
        self._kept: dict | None = None
        self._best_so_far = None
        self.curves = {}
        self.kept_lines = []
        self.view = None
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)

    def _build(self) -> None:
        import pyqtgraph as pg

        self.view = pg.GraphicsLayoutWidget()
        self.view.setBackground(style.PANEL)
        self.loss_plot = self.view.addPlot(title="Loss")
        self.accuracy_plot = self.view.addPlot(title="Accuracy")
        self.accuracy_plot.setYRange(0, 1, padding=0.02)
        # Loss falls and accuracy rises: legends in the corner each curve leaves free.
        for plot, corner in ((self.loss_plot, (-10, 10)), (self.accuracy_plot, (-10, -40))):
            plot.showGrid(x=True, y=True, alpha=0.15)
            plot.setLabel("bottom", "epoch")
            plot.addLegend(offset=corner, labelTextColor=style.TEXT)
        for plot, prefix in ((self.loss_plot, "loss"), (self.accuracy_plot, "accuracy")):
            self.curves[f"step_{prefix}"] = plot.plot(
                pen=pg.mkPen(TRAIN_STEP, width=1), name="training (step)"
            )
            self.curves[f"train_{prefix}"] = plot.plot(
                pen=pg.mkPen(TRAIN, width=2), symbol="o", symbolSize=5, symbolBrush=TRAIN,
                symbolPen=None, name="training (epoch)",
            )  # fmt: skip
            self.curves[f"val_{prefix}"] = plot.plot(
                pen=pg.mkPen(VAL, width=2), symbol="o", symbolSize=5, symbolBrush=VAL,
                symbolPen=None, name="validation",
            )  # fmt: skip
        for plot in (self.loss_plot, self.accuracy_plot):
            line = pg.InfiniteLine(
                angle=90, movable=False, pen=pg.mkPen(KEPT, width=1.5, style=Qt.PenStyle.DashLine),
                label="", labelOpts={"position": 0.92, "color": KEPT},
            )  # fmt: skip
            line.setVisible(False)
            plot.addItem(line)
            self.kept_lines.append(line)
        self._layout.addWidget(self.view)
        self._draw()

    def _built(self) -> bool:
        """Whether the plots exist, making them if the widget is on screen."""
        if self.view is None and self.isVisible():
            self._build()
        return self.view is not None

    def showEvent(self, event) -> None:  # noqa: N802
        self._built()
        super().showEvent(event)

    def set_metrics(self, metrics) -> None:
        """Draw ``metrics`` (a ``job_store.Metrics``)."""
        self._metrics = metrics
        best = [e["epoch"] for e in metrics.epochs if e.get("best")]
        self._best_so_far = best[-1] if best else None
        if self._built():
            self._draw()

    def mark_kept(self, kept: dict | None) -> None:
        """Mark ``kept["epoch"]`` (0-based, a finished job's job.json "kept"), or without it
        the best epoch so far of the metrics last drawn; nothing if there is neither."""
        self._kept = kept
        if self._built():
            self._draw()

    def clear(self) -> None:
        self._metrics = None
        self._kept = None
        self._best_so_far = None
        if self._built():
            self._draw()

    def _draw(self) -> None:
        metrics = self._metrics
        steps = [s for s in metrics.steps if s.get("loss") is not None] if metrics else []
        x_steps = [s["epoch"] + s["step"] / max(s.get("steps") or 1, 1) for s in steps]
        self.curves["step_loss"].setData(x_steps, [s["loss"] for s in steps])
        self.curves["step_accuracy"].setData(x_steps, [s["accuracy"] for s in steps])
        epochs = metrics.epochs if metrics else []
        for key in ("loss", "accuracy"):
            train = [e for e in epochs if e.get(key) is not None]
            val = [e for e in epochs if e.get(f"val_{key}") is not None]
            self.curves[f"train_{key}"].setData([e["epoch"] + 1 for e in train],
                                                [e[key] for e in train])  # fmt: skip
            self.curves[f"val_{key}"].setData([e["epoch"] + 1 for e in val],
                                              [e[f"val_{key}"] for e in val])  # fmt: skip
        epoch = self._kept.get("epoch") if self._kept else self._best_so_far
        text = "kept" if self._kept else "best so far"
        for line in self.kept_lines:
            line.setVisible(isinstance(epoch, int))
            if isinstance(epoch, int):
                line.setValue(epoch + 1)
                line.label.setFormat(text)

    # What a test can check; the plots are made for it if they do not exist yet.
    def marked_epoch(self) -> int | None:
        """The epoch (1-based, as on the axis) the line marks, or None."""
        if self.view is None:
            self._build()
        line = self.kept_lines[0]
        return int(round(line.value())) if line.isVisible() else None

    def point_counts(self) -> dict[str, int]:
        """How many points each curve shows."""
        if self.view is None:
            self._build()
        counts = {}
        for name, curve in self.curves.items():
            x = curve.getData()[0]
            counts[name] = 0 if x is None else len(x)
        return counts
