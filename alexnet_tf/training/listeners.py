"""What happens around the epoch loop, one listener each, with Keras-callback-shaped hooks.

The loop (``loop.TrainingJob._train_epochs``) only runs steps, validates and stops; it calls
every listener's hooks in the order given, and a listener may add to the record it is given
(as Keras callbacks add to ``logs``): ``StepProgress`` adds images/s and the time left before
``Metrics`` reports the step, ``BestEpochKeeper`` adds ``best`` before ``Metrics`` reports the
epoch. Hooks:

- ``on_train_begin(done_steps)``: the epochs start, ``done_steps`` already run (a resume).
- ``on_step_begin(epoch, step)`` / ``on_step_end(epoch, step, record)``: around one step
  (0-based); ``record`` is the step event's fields.
- ``on_epoch_end(epoch, record)``: after validation; ``record`` is the epoch event's fields.
  Epoch -1 is the network before its first epoch (top and full modes offer it once fc8 is
  fitted first): reported and offered as the best, never checkpointed or plotted.
- ``on_stop(epoch, step)``: the job stops on request; a resume starts at ``(epoch, step)``.
- ``on_train_end()``: the epochs ended, or an error or a stop ends them (always called).
"""

from __future__ import annotations

import time

from .checkpoints import save_checkpoint
from .recipe import DivergedError, all_finite, divergence_message
from .steps import write_scalar

RECENT_STEPS = 20  # the steps images/s and the time left are measured over


class Listener:
    """A listener that does nothing: subclasses override the hooks they need."""

    def on_train_begin(self, done_steps: int) -> None:
        pass

    def on_step_begin(self, epoch: int, step: int) -> None:
        pass

    def on_step_end(self, epoch: int, step: int, record: dict) -> None:
        pass

    def on_epoch_end(self, epoch: int, record: dict) -> None:
        pass

    def on_stop(self, epoch: int, step: int) -> None:
        pass

    def on_train_end(self) -> None:
        pass


class Listeners(Listener):
    """Several listeners called in order, as one."""

    def __init__(self, listeners):
        self.listeners = list(listeners)

    def on_train_begin(self, done_steps: int) -> None:
        for listener in self.listeners:
            listener.on_train_begin(done_steps)

    def on_step_begin(self, epoch: int, step: int) -> None:
        for listener in self.listeners:
            listener.on_step_begin(epoch, step)

    def on_step_end(self, epoch: int, step: int, record: dict) -> None:
        for listener in self.listeners:
            listener.on_step_end(epoch, step, record)

    def on_epoch_end(self, epoch: int, record: dict) -> None:
        for listener in self.listeners:
            listener.on_epoch_end(epoch, record)

    def on_stop(self, epoch: int, step: int) -> None:
        for listener in self.listeners:
            listener.on_stop(epoch, step)

    def on_train_end(self) -> None:
        for listener in self.listeners:
            listener.on_train_end()


class StepWatching(Listener):
    """Arms the step watchdog (watchdog.py) around each step: only a multi-worker step can wait
    forever, on a hung peer. Put it first, so that the others' work is not in the step's time."""

    def __init__(self, watchdog):
        self.watchdog = watchdog

    def on_step_begin(self, epoch: int, step: int) -> None:
        self.watchdog.begin()

    def on_step_end(self, epoch: int, step: int, record: dict) -> None:
        self.watchdog.end()

    def on_train_end(self) -> None:
        self.watchdog.end()  # a step that raised must not be judged hung later


class StepProgress(Listener):
    """Progress, images/s and the time left, added to each step's record and to status.json.

    Speed is measured over the last ``RECENT_STEPS`` steps; the first step of a run includes
    tracing and compiling, so it is forgotten once a second one is timed.
    """

    def __init__(self, job, batch_size: int, total_steps: int):
        self.job = job
        self.batch_size = batch_size
        self.total_steps = total_steps
        self._recent: list[float] = []
        self._timed = 0
        self._began = 0.0

    def on_step_begin(self, epoch: int, step: int) -> None:
        self._began = time.monotonic()

    def on_step_end(self, epoch: int, step: int, record: dict) -> None:
        self._timed += 1
        if self._timed == 2:
            self._recent.clear()
        self._recent = (self._recent + [time.monotonic() - self._began])[-RECENT_STEPS:]
        seconds = sum(self._recent)
        done = record["global_step"]
        record.update(
            images_per_second=self.batch_size * len(self._recent) / seconds,
            eta_seconds=(self.total_steps - done) * seconds / len(self._recent),
            progress=done / self.total_steps,
        )
        self.job.note_progress(
            epoch=epoch, step=done, progress=record["progress"],
            images_per_second=record["images_per_second"], eta_seconds=record["eta_seconds"],
            message=f"epoch {epoch + 1}/{record['epochs']}, step {step + 1}/{record['steps']}",
        )  # fmt: skip


class BestEpochKeeper(Listener):
    """Offers each validated epoch to ``network.best`` (network.BestEpoch) and marks the record
    ``best`` when it is the best so far."""

    def __init__(self, network):
        self.network = network

    def on_epoch_end(self, epoch: int, record: dict) -> None:
        if record["val_accuracy"] is None:
            return
        record["best"] = self.network.best.offer(
            epoch, record["val_accuracy"], record["val_loss"], self.network.net.trainable_variables
        )


class Metrics(Listener):
    """The step and epoch events (stdout), metrics.jsonl, the log and TensorBoard.

    Every ``log_every`` steps and each epoch's last step are reported; only the chief writes
    files (the other workers of a multi-worker job write none).
    """

    def __init__(self, reporter, job, *, log_every: int, is_chief: bool):
        self.reporter = reporter
        self.job = job
        self.log_every = log_every
        self.is_chief = is_chief
        self.writer = None

    def on_train_begin(self, done_steps: int) -> None:
        import tensorflow as tf

        if self.is_chief:
            self.writer = tf.summary.create_file_writer(str(self.job.tensorboard_dir))

    def on_step_end(self, epoch: int, step: int, record: dict) -> None:
        if record["step"] % self.log_every and record["step"] != record["steps"]:
            return
        self.reporter.emit("step", **record)
        if not self.is_chief:
            return
        self.job.append_metrics({"kind": "step", "time": time.time(), **record})
        done = record["global_step"]
        self._plot(done, {"train/loss": record["loss"], "train/accuracy": record["accuracy"],
                          "train/images_per_second": record["images_per_second"]})  # fmt: skip

    def on_epoch_end(self, epoch: int, record: dict) -> None:
        self.reporter.emit("epoch", **record)
        if not self.is_chief:
            return
        self.job.append_metrics({"kind": "epoch", "time": time.time(), **record})
        if epoch < 0:
            self.job.log(f"fc8 fitted first, before the layers below train: {record}")
            return
        self.job.log(f"epoch {epoch + 1}: {record}")
        if record["val_accuracy"] is not None:
            self._plot(record["global_step"], {"val/loss": record["val_loss"],
                                               "val/accuracy": record["val_accuracy"]})  # fmt: skip
        self.writer.flush()

    def _plot(self, step: int, scalars: dict) -> None:
        with self.writer.as_default(step=step):
            for name, value in scalars.items():
                write_scalar(name, value, step)

    def on_train_end(self) -> None:
        if self.writer is not None:
            self.writer.close()


class Checkpoints(Listener):
    """A checkpoint at most every ``seconds`` (a full one is ~0.5 GB) and on every stop.

    Within an epoch it saves after a step (never after the last: the epoch's end does); at an
    epoch's end it saves as the next epoch's start, except after the last epoch, whose model is
    saved next. Before saving it checks the weights: non-finite ones stop the job.
    """

    def __init__(self, network, *, steps: int, epochs: int, seconds: float, lr: float):
        self.network = network
        self.steps = steps
        self.epochs = epochs
        self.seconds = seconds
        self.lr = lr
        self._last_save = time.monotonic()
        self._saved_at = None  # (epoch, step) of this run's last save

    def on_train_begin(self, done_steps: int) -> None:
        self._last_save = time.monotonic()

    def _due(self) -> bool:
        return time.monotonic() - self._last_save >= self.seconds

    def on_step_end(self, epoch: int, step: int, record: dict) -> None:
        if step + 1 < self.steps and self._due():
            self.save(epoch, step + 1)

    def on_epoch_end(self, epoch: int, record: dict) -> None:
        if 0 <= epoch < self.epochs - 1 and self._due():
            self.save(epoch + 1, 0)

    def on_stop(self, epoch: int, step: int) -> None:
        if self._saved_at != (epoch, step):
            self.save(epoch, step)

    def save(self, epoch: int, step: int) -> None:
        """Checkpoint the run as standing at ``(epoch, step)``: where a resume starts."""
        network = self.network
        if not all_finite(v.numpy() for v in network.net.trainable_variables):
            raise DivergedError(divergence_message(
                "the weights became non-finite", self.lr, f"in epoch {epoch + 1}"
            ))  # fmt: skip
        network.epoch_var.assign(epoch)
        network.step_var.assign(step)
        save_checkpoint(network.manager, epoch * self.steps + step)
        self._last_save = time.monotonic()
        self._saved_at = (epoch, step)
