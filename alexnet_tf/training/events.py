"""Progress of a training job: JSON lines on stdout (``--json``) or a progress bar on stderr.

Events, one JSON object per line, each with an ``"event"`` key:
``start`` (replicas, strategy, dataset sizes, init source), ``phase`` (scan / features / head /
train / save, with a message), ``step`` (epoch, step, loss, accuracy, images_per_second,
eta_seconds), ``epoch`` (epoch, loss, accuracy, val_loss, val_accuracy, and ``best``: whether it
is the best epoch so far), ``done`` (model path, eval summary, ``kept``: the epoch whose weights
were saved, 0-based, and the rule), ``cancelled`` (checkpoint written, how to resume) and
``error`` (message).
"""

from __future__ import annotations

import sys

from ..fileio import json_text


def describe_kept(kept: dict) -> str:
    """``epoch 7 (best validation accuracy 95.8%)`` from a job's "kept" record (0-based epoch
    inside, 1-based shown); "" when there is none. The terminal, the log and the app say it so."""
    epoch = kept.get("epoch") if isinstance(kept, dict) else None
    if not isinstance(epoch, int):
        return ""
    rule = kept.get("rule")
    accuracy = kept.get("val_accuracy")
    if rule != "best":
        return f"epoch {epoch + 1} ({rule})"
    shown = f" {accuracy * 100:.1f}%" if isinstance(accuracy, (int, float)) else ""
    before = ": fc8 fitted first, before the layers below trained" if epoch == -1 else ""
    return f"epoch {epoch + 1}{before} (best validation accuracy{shown})"


def format_duration(seconds, unknown: str = "--:--") -> str:
    """``1:02:03`` or ``2:03`` for a number of seconds; ``unknown`` for ``None``."""
    if seconds is None:
        return unknown
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


# The values of an epoch event shown on the terminal: key, name, format.
_EPOCH_VALUES = (
    ("loss", "loss", ".4f"),
    ("accuracy", "accuracy", ".3f"),
    ("val_loss", "val loss", ".4f"),
    ("val_accuracy", "val accuracy", ".3f"),
)


class ProgressReporter:
    """Sends events to the user: JSON lines on stdout, or readable text on stderr.

    Args:
        json_lines: print JSON lines on stdout (for the app and scripts); otherwise a
            progress bar and messages on stderr, and nothing on stdout.
        enabled: False silences a non-chief worker of a multi-worker job.
    """

    def __init__(self, json_lines: bool = False, enabled: bool = True):
        self.json_lines = json_lines
        self.enabled = enabled
        self._bar_open = False

    def emit(self, event: str, **fields) -> None:
        """Report one event."""
        if not self.enabled:
            return
        if self.json_lines:
            line = json_text({"event": event, **fields})
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
            return
        if event == "step":
            self._bar(fields)
            return
        self._end_bar()
        text = self._describe(event, fields)
        if text:
            print(text, file=sys.stderr, flush=True)

    def _bar(self, f: dict) -> None:
        width = 30
        progress = f.get("progress") or 0.0
        filled = int(round(width * progress))
        bar = "#" * filled + "." * (width - filled)
        ips = f.get("images_per_second")
        line = (
            f"\repoch {f['epoch'] + 1}/{f['epochs']} [{bar}] {progress * 100:5.1f}% "
            f"loss {f['loss']:.4f} acc {f['accuracy']:.3f} "
            f"{ips or 0:.1f} img/s ETA {format_duration(f.get('eta_seconds'))}  "
        )
        sys.stderr.write(line)
        sys.stderr.flush()
        self._bar_open = True

    def _end_bar(self) -> None:
        if self._bar_open:
            sys.stderr.write("\n")
            self._bar_open = False

    @staticmethod
    def _describe(event: str, f: dict) -> str:
        if event == "start":
            return (
                f"Training {f['num_train']} images ({f['num_val']} for validation) of "
                f"{f['num_classes']} classes, mode {f['mode']}, on {f['strategy']}.\n"
                f"Initial weights: {f['init_source']}"
            )
        if event == "phase":
            return f["message"]
        if event == "epoch":  # values are None when not measured (no validation set)
            shown = [f"{name} {f[key]:{spec}}" for key, name, spec in _EPOCH_VALUES
                     if f.get(key) is not None]  # fmt: skip
            best = " (best so far)" if f.get("best") else ""
            name = "fc8 fitted first" if f["epoch"] == -1 else f"epoch {f['epoch'] + 1}"
            return f"{name}: " + ", ".join(shown) + best
        if event == "done":
            text = f"Done. Model saved to {f['model_path']}"
            kept = describe_kept(f.get("kept") or {})
            return text + (f"\nKept the weights of {kept}" if kept else "")
        if event == "cancelled":
            return f["message"]
        if event == "error":
            return f"error: {f['message']}"
        return ""
