"""The training job: one custom loop (``strategy.run``) for every strategy.

Keras 3 ``model.fit`` fails under ``MultiWorkerMirroredStrategy`` (keras-team/keras#20585),
so every strategy (CPU, logical CPU replicas, GPUs, several workers) runs the same loop:
a ``tf.function`` train step called through ``strategy.run``, a Keras optimizer, and the
sparse categorical cross-entropy summed over the replica's examples and divided by the
*global* batch (so gradients summed over replicas equal those of one big batch).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np

from ..errors import AlexNetStudioError
from ..fileio import atomic_path, write_json_atomic
from ..jobfolder import (
    CHECKPOINTS_DIR,
    PREPROCESSING,
    job_is_alive,
    model_file,
    new_job_record,
)
from ..preprocess import center_crop, normalize
from ..stopping import StopFlag
from . import pipeline
from .checkpoints import (
    DISK_ERRORS,
    checkpoint_prefixes,
    remove_partial_saves,
    repair_checkpoint_list,
    restore_newest_usable,
    tf_error_reason,
)
from .events import ProgressReporter, describe_kept
from .initial_weights import apply_init, resolve_init
from .job import (
    JobFolder,
    JobFolderError,
    make_worker_scratch,
    read_job_json,
    read_status_json,
)
from .listeners import (
    BestEpochKeeper,
    Checkpoints,
    Listener,
    Listeners,
    Metrics,
    StepProgress,
    StepWatching,
)
from .recipe import (
    DEFAULT_LR,
    HEAD_FIRST_EPOCHS,
    TRAINED_LAYERS,
    DivergedError,
    all_finite,
    check_step,
    divergence_message,
    fold_standardization,
    make_optimizer,
    standardization,
)
from .records import dataset_record, start_fields, versions
from .settings import SettingsError, TrainSettings
from .state import Dataset, Network, RunState, Validation, validation_scores
from .steps import (
    make_predict,
    make_train_step,
    predict_dataset,
    set_precision,
)
from .watchdog import StepWatchdog

FEATURE_LAYER = "fc7"  # head mode trains fc8 on cached fc7 activations
CHECKPOINTS_KEPT = 2
EXIT_OK = 0  # finished, or cancelled on request (status.json tells which)
EXIT_FAILED = 1


class Cancelled(Exception):  # noqa: N818
    """The job stopped on request."""


class TrainingJob:
    """One run of a training job (new or resumed) in this process.

    Args:
        settings: the job's settings (for a resume, those of job.json).
        job_dir: the job folder.
        resume: continue the job in ``job_dir`` from its last checkpoint.
        reporter: where progress events go.
        stop: polled between steps; True asks the job to checkpoint and stop.
        resume_command: how the user resumes this job (the CLI gives its command line),
            named in the messages of a stop or a failure.
    """

    def __init__(self, settings, job_dir, *, resume=False, reporter=None, stop=None,
                 resume_command: str | None = None):  # fmt: skip
        self.settings = settings
        self.job_dir = Path(job_dir).expanduser().resolve()
        self.resume = resume
        self.reporter = reporter or ProgressReporter()
        self.stop = stop or (lambda: False)
        self.resume_command = resume_command or f"the job folder {self.job_dir}"
        self.job: JobFolder | None = None
        self.state: RunState | None = None

    # -- helpers -------------------------------------------------------------------------
    def _phase(self, phase: str, message: str) -> None:
        self.reporter.emit("phase", phase=phase, message=message)
        self.job.log(message)
        self.job.update_status(message=message)

    def _check_stop(self) -> None:
        if self.stop():
            raise Cancelled()

    # -- the job -------------------------------------------------------------------------
    def run(self) -> int:
        """Run the job to its end. Returns the process exit status (see EXIT_*)."""
        from .strategy import is_chief_process

        is_chief = is_chief_process()
        writer_root = self.job_dir
        if not is_chief:  # only the chief writes the job folder
            writer_root = make_worker_scratch()
        self.job = JobFolder(writer_root, writer=is_chief)
        self.state = None
        try:
            self.job.update_status(
                state="running", epoch=0, step=0, total_steps=None, progress=0.0,
                images_per_second=None, eta_seconds=None, message="starting",
            )  # fmt: skip
            self.job.start_heartbeat()
            self.state = RunState(choice=self._select_strategy())
            return self._run()
        except Cancelled:
            message = f"Cancelled on request; resume with {self.resume_command}"
            self.job.log(message)
            self.job.update_status(state="cancelled", message=message)
            self.reporter.emit("cancelled", message=message, job_dir=str(self.job_dir))
            return EXIT_OK
        except OSError as error:
            self._fail(self._write_error(error))
            return EXIT_FAILED
        except (AlexNetStudioError, ValueError) as error:
            self._fail(str(error))
            return EXIT_FAILED
        except Exception as error:  # a bug or a TF failure: report it, keep the traceback
            import traceback

            self.job.log(traceback.format_exc())
            choice = self.state.choice if self.state else None
            if choice and choice.num_workers > 1 and _is_peer_failure(error):
                self._fail(
                    f"Another worker of this job died or cannot be reached "
                    f"({tf_error_reason(error)}), so this worker stops too. {self._resume_hint()}"
                )
            else:
                self._fail(f"{type(error).__name__}: {error}")
            return EXIT_FAILED
        except BaseException as error:  # SystemExit, KeyboardInterrupt: never leave "running"
            self._fail(f"stopped by {type(error).__name__}")
            raise
        finally:
            self.job.close()
            if not is_chief:
                shutil.rmtree(writer_root, ignore_errors=True)

    def _select_strategy(self):
        """The strategy; in a multi-worker job, once every worker has joined (see rendezvous)."""
        from .rendezvous import JOIN_WAIT_FACTOR, JoinError, wait_for_workers
        from .strategy import select_strategy, tf_config_worker_index, tf_config_workers

        s = self.settings
        workers = tf_config_workers()
        if len(workers) > 1:
            self._phase("join", f"Waiting for the {len(workers)} workers of TF_CONFIG to join...")
            try:
                wait_for_workers(
                    workers, tf_config_worker_index(), JOIN_WAIT_FACTOR * s.watchdog_seconds
                )
            except JoinError as error:
                raise JoinError(f"{error} {self._resume_hint()}") from None
        return select_strategy(s.cpu_replicas if s.cpu_replicas > 1 else None)

    def _write_error(self, error: OSError) -> str:
        """A full or read-only disk, said plainly with the folder (a write error alone
        names no file); other OS errors as they are."""
        reason = DISK_ERRORS.get(error.errno)
        if reason is None:
            return str(error)
        where = Path(error.filename) if error.filename else self.job_dir
        if where == self.job_dir or self.job_dir in where.parents:
            where = self.job_dir
            what = f"Cannot write in the job folder {where}"
        else:
            what = f"Cannot write {where}"
        return (
            f"{what}: {reason} ({error.strerror}). What was saved before is kept: free some "
            f"disk space (or make the folder writable), then resume with "
            f"{self.resume_command}."
        )

    def _resume_hint(self) -> str:
        return f"Resume with {self.resume_command}."

    def _fail(self, message: str) -> None:
        self.reporter.emit("error", message=message)  # first: stdout works when the disk does not
        try:
            self.job.log(f"failed: {message}")
            self.job.update_status(state="failed", message=message)
        except OSError as error:  # a full or read-only disk: the error event above says why
            print(f"warning: cannot record the failure in {self.job_dir}: {error}", file=sys.stderr)

    def _run(self) -> int:
        """The job in five parts: settings, data, network, epochs, finish."""
        import tensorflow as tf

        s, run = self.settings, self.state
        recorded_job = self._record_settings()
        set_precision(s.precision, bool(tf.config.list_physical_devices("GPU")))
        if s.batch_size % run.choice.num_replicas:
            raise SettingsError(
                f"batch_size (global) must be divisible by the {run.choice.num_replicas} "
                f"replicas. Received: batch_size={s.batch_size}"
            )
        run.data = self._load_dataset(recorded_job)
        self._prepare_network(recorded_job)
        listeners = self._listeners()
        if run.network.fresh and not run.on_features:
            self._offer_fc8_first(listeners)
        self._train_epochs(listeners)
        return self._finish()

    # -- 1. settings ---------------------------------------------------------------------
    def _record_settings(self) -> dict:
        """job.json's settings part (read back on resume)."""
        if self.resume:
            return read_job_json(self.job_dir)
        # job.json first (the CLI writes it even earlier, see create_job_folder), so that a
        # job killed at any moment can be resumed; its dataset part is added once the scan
        # is done (a job.json without it means: not yet).
        s = self.settings
        recorded = new_job_record(s.to_dict()) | {"versions": versions()}
        if self.state.choice.is_chief:
            self.job.write_json(self.job.job_json, recorded)
        return recorded

    # -- 2. data -------------------------------------------------------------------------
    def _load_dataset(self, recorded_job: dict) -> Dataset:
        """Scan and decode the folder once into the job's cache (reused on resume); split."""
        from ..data.scan import require_trainable, scan_dataset

        s = self.settings
        job = self.job
        cache_path = job.cache_dir / pipeline.CACHE_FILE
        if self.resume and cache_path.exists():
            self._phase("scan", f"Checking {s.folder} against the job's dataset...")
            scan = scan_dataset(s.folder)
            cache = pipeline.load_image_cache(cache_path)
            if len(cache) != len(scan.items):
                raise JobFolderError(
                    f"{cache_path} does not match the dataset; delete it and resume."
                )
        else:
            self._phase("scan", f"Scanning and decoding {s.folder}...")
            scan, cache = pipeline.build_image_cache(s.folder, cache_path, should_stop=self.stop)
        job.write_json(job.scan_json, scan.to_dict())
        for refused in scan.refused:
            job.log(f"refused {refused.path}: {refused.reason}")
        require_trainable(scan)
        if "dataset" in recorded_job:
            recorded = recorded_job["dataset"]["fingerprint"]
            if recorded != scan.fingerprint:
                raise SettingsError(
                    f"The images in {s.folder} changed since the job started (dataset "
                    f"fingerprint {recorded[:12]} -> {scan.fingerprint[:12]}); resuming would mix "
                    "two datasets. Start a new job instead."
                )
        labels = np.array([item.label for item in scan.items], np.int32)
        train_idx, val_idx = pipeline.split_train_val(labels, s.val_split, s.seed)
        if len(train_idx) < s.batch_size:
            raise SettingsError(
                f"batch_size is larger than the {len(train_idx)} training images; lower it "
                f"(a multiple of {self.state.choice.num_replicas}). "
                f"Received: batch_size={s.batch_size}"
            )
        steps = pipeline.steps_per_epoch(len(train_idx), s.batch_size)
        return Dataset(scan, cache, labels, train_idx, val_idx, steps, steps * s.epochs)

    def _head_features(self) -> np.ndarray:
        """fc7 activations of every image's centre crop (and of its mirror image when
        augmenting), computed once with the initial weights and cached in the job folder.

        Why centre crop + mirror rather than random crops: a random crop per epoch would need a
        full forward pass per epoch, which is what head mode avoids. The two cached views keep
        the flip augmentation, the cheapest and most useful one; the crops are all centred, as
        in classification. Returns ``(N, views, 4096)`` float32 (rows of images never used are 0).
        """
        from ..forward import CompiledForward

        data = self.state.data
        cache = data.cache
        views = 2 if self.settings.augment else 1
        path = self.job.cache_dir / f"features-{FEATURE_LAYER}-{views}view.npy"
        if path.exists():
            features = np.load(path, mmap_mode="r")
            if features.shape == (len(cache), views, 4096):
                return features
        self._phase(
            "features", f"Computing {FEATURE_LAYER} features of {len(cache)} images once..."
        )
        # The same XLA-compiled forward pass as classification: the fastest one measured here.
        forward = CompiledForward(self.state.network.model, (FEATURE_LAYER,))
        features = np.zeros((len(cache), views, 4096), np.float32)
        used = np.concatenate([data.train_idx, data.val_idx])
        batch = 32
        for start in range(0, len(used), batch):
            self._check_stop()
            rows = np.sort(used[start : start + batch])
            x = normalize(center_crop(np.asarray(cache[rows])))
            features[rows, 0] = forward(x)[FEATURE_LAYER]
            if views == 2:
                mirrored = np.ascontiguousarray(x[:, :, ::-1, :])
                features[rows, 1] = forward(mirrored)[FEATURE_LAYER]
        if not all_finite([features]):
            raise DivergedError(
                "The initial network's fc7 activations are not finite on these images: its "
                f"weights ({self.settings.init}) are damaged. Start from other weights."
            )
        if self.state.choice.is_chief:
            with atomic_path(path, suffix=".npy") as temporary:
                np.save(temporary, features)
        return features

    def _batches(self, inputs, epoch: int, start_step: int, *, on_features: bool):
        """An iterator over this worker's distributed batches of ``epoch`` from ``start_step``,
        from ``inputs``: images, or fc7 features when ``on_features``."""
        s, choice, data = self.settings, self.state.choice, self.state.data
        order = pipeline.epoch_order(data.train_idx, s.seed, epoch)
        positions = pipeline.worker_positions(
            data.steps, s.batch_size, start_step=start_step,
            worker_index=choice.worker_index, num_workers=choice.num_workers,
        )  # fmt: skip

        def dataset_fn(context):
            return pipeline.make_train_dataset(
                inputs, data.labels, order, positions,
                per_replica_batch=s.batch_size // choice.num_replicas, seed=s.seed, epoch=epoch,
                augment_images=s.augment, features=on_features,
            )  # fmt: skip

        return iter(choice.strategy.distribute_datasets_from_function(dataset_fn))

    def _validate(self, predict, inputs, *, on_features: bool) -> Validation | None:
        """The probabilities of ``predict`` on the validation images (from ``inputs``: images,
        or fc7 features when ``on_features``); None without validation images."""
        data = self.state.data
        if not len(data.val_idx):
            return None
        eval_data = pipeline.make_eval_dataset(
            inputs, data.val_idx, self.settings.batch_size, features=on_features
        )
        return Validation(predict_dataset(predict, eval_data), data.labels[data.val_idx])

    # -- 3. network ----------------------------------------------------------------------
    def _prepare_network(self, recorded_job: dict) -> None:
        """The network built and restored (or started from the initial weights), what it
        trains on, and on a fresh start fc8 prepared."""
        s, run = self.settings, self.state
        init, init_text = resolve_init(s.init)
        s.init = init
        run.network = self._build_network(init)
        self._record_dataset(recorded_job, init_text)
        # Head mode trains on the frozen network's fc7 activations; top and full modes use
        # them once, to fit the new fc8 before the layers below start to move.
        run.on_features = s.mode == "head"
        features = None
        if run.on_features or run.network.fresh:
            features = self._head_features()
        if run.network.fresh:
            self._prepare_fc8(features)
        run.inputs = features if run.on_features else run.data.cache
        run.predict = make_predict(run.network.net)

    def _build_network(self, init: str) -> Network:
        """The model, the network that trains, its optimizer and checkpoint, restored on resume
        (or given the initial weights)."""
        import keras
        import tensorflow as tf

        from ..model import build_alexnet
        from .network import BestEpoch, FeatureStandardizer, build_training_net

        s, job = self.settings, self.job
        choice, data = self.state.choice, self.state.data
        keras.utils.set_random_seed(s.seed)
        with choice.strategy.scope():
            model = build_alexnet(len(data.scan.classes), dropout=s.dropout)
            trained = TRAINED_LAYERS[s.mode]
            for layer in model.layers:
                layer.trainable = layer.name in trained or not layer.weights
            standardizer = FeatureStandardizer(name="fc7_standardizer")
            net = build_training_net(model, standardizer, features_input=s.mode == "head")
            optimizer = make_optimizer(s.mode, s.lr, data.steps, data.total_steps, s.momentum)
            if s.precision == "fp16":
                optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
            optimizer.build(net.trainable_variables)
        best = BestEpoch(net.trainable_variables) if s.keep == "best" else None
        epoch_var = tf.Variable(0, dtype=tf.int64, trainable=False)
        step_var = tf.Variable(0, dtype=tf.int64, trainable=False)
        parts = dict(model=model, optimizer=optimizer, epoch=epoch_var, step=step_var,
                     standardizer=standardizer)  # fmt: skip
        if best is not None:
            parts["best"] = best
        checkpoint = tf.train.Checkpoint(**parts)
        repaired = None
        if choice.is_chief:
            remove_partial_saves(job.checkpoints_dir)
            if self.resume:  # before the manager reads the list (a damaged one would stop it)
                repaired = repair_checkpoint_list(job.checkpoints_dir)
        manager = tf.train.CheckpointManager(
            checkpoint, job.checkpoints_dir, max_to_keep=CHECKPOINTS_KEPT
        )
        restored = None
        if self.resume and choice.is_chief:
            restored = restore_newest_usable(checkpoint, manager)
        elif self.resume:
            # Other workers start from the chief's checkpoint too (read only: the job folder
            # is shared on one machine); from their own empty folder they would start over
            # and run more steps than the chief, and the job would never end in step.
            restored = restore_newest_usable(
                checkpoint, prefixes=checkpoint_prefixes(self.job_dir / CHECKPOINTS_DIR)
            )
        if repaired:
            self._phase("restore", repaired)
        fresh = not (restored and restored.restored)
        if not fresh:
            job.log(restored.describe())
            if restored.damaged:  # the user should know that some progress was lost
                self._phase("restore", restored.describe())
        else:
            apply_init(model, init)
            if self.resume:  # killed before its first checkpoint: nothing is lost but time
                self._phase("restore", "No checkpoint yet: starting from the initial weights")
        return Network(model, net, standardizer, optimizer, best, manager, epoch_var, step_var,
                       fresh)  # fmt: skip

    def _prepare_fc8(self, features) -> None:
        """Standardise fc8's input on the training images, start fc8 at zero; in top and full
        modes, fit it alone on the cached ``features`` first (see recipe)."""
        s, choice, data, network = self.settings, *self._parts()
        network.standardizer.set_statistics(*standardization(features[data.train_idx]))
        fc8 = network.model.get_layer("fc8")
        fc8.set_weights([np.zeros_like(w) for w in fc8.get_weights()])
        if s.mode == "head":
            return
        from .network import BestEpoch, build_training_net

        epochs, lr = HEAD_FIRST_EPOCHS, DEFAULT_LR["head"]
        self._phase("head", f"Fitting the new fc8 on the cached features first ({epochs} epochs)")
        with choice.strategy.scope():
            head = build_training_net(network.model, network.standardizer, features_input=True,
                                      fc8_dropout=s.fc8_first_dropout)  # fmt: skip
            optimizer = make_optimizer("head", lr, data.steps, data.steps * epochs)
            optimizer.build(head.trainable_variables)
        step_fn = make_train_step(choice.strategy, head, optimizer, s.batch_size, jit_compile=False)
        # As head mode: the fc8 of the best validation epoch is the one the layers below start from.
        best, predict = BestEpoch(head.trainable_variables), make_predict(head)
        for epoch in range(epochs):
            batches = self._batches(features, epoch, 0, on_features=True)
            losses = []
            for _ in range(data.steps):
                self._check_stop()
                loss, _, norm = step_fn(next(batches))
                losses.append(float(loss))
                check_step(losses[-1], float(norm), num_classes=len(data.scan.classes), lr=lr,
                           where=f"while fitting fc8 first (epoch {epoch + 1})")  # fmt: skip
            validation = self._validate(predict, features, on_features=True)
            if validation is not None:
                best.offer(epoch, validation.accuracy, validation.loss, head.trainable_variables)
            self.job.log(f"fc8 first, epoch {epoch + 1}/{epochs}: loss {np.mean(losses):.4f}, "
                         f"validation {validation_scores(validation)}")  # fmt: skip
        if best.describe() is not None:
            best.restore_into(head.trainable_variables)

    def _offer_fc8_first(self, listeners: Listener) -> None:
        """Validate the network as it stands before the layers below fc8 move (the fitted fc8
        on the initial layers) and offer it as the kept model's "epoch -1", shown as epoch 0:
        a fine-tuning that only makes validation worse then keeps head mode's result."""
        run = self.state
        validation = self._validate(run.predict, run.data.cache, on_features=False)
        if validation is None:  # no validation images: nothing to show or keep
            return
        record = dict(epoch=-1, loss=None, accuracy=None, global_step=0,
                      **validation_scores(validation))  # fmt: skip
        listeners.on_epoch_end(-1, record)

    def _parts(self) -> tuple:
        """``(choice, data, network)`` of the run."""
        return self.state.choice, self.state.data, self.state.network

    # -- 4. epochs -----------------------------------------------------------------------
    def _listeners(self) -> Listener:
        """What happens around the epochs, in the order it happens (see listeners.py)."""
        s, (choice, data, network) = self.settings, self._parts()
        parts = []
        if choice.num_workers > 1:  # only a multi-worker step can wait forever (on a hung peer)
            parts.append(StepWatching(StepWatchdog(
                s.watchdog_seconds, lambda message: self._fail(f"{message} {self._resume_hint()}"),
                exit_status=EXIT_FAILED,
            )))  # fmt: skip
        parts.append(StepProgress(self.job, s.batch_size, data.total_steps))
        if network.best is not None:
            parts.append(BestEpochKeeper(network))
        parts.append(Metrics(self.reporter, self.job, log_every=s.log_every,
                             is_chief=choice.is_chief))  # fmt: skip
        parts.append(Checkpoints(network, steps=data.steps, epochs=s.epochs,
                                 seconds=s.checkpoint_seconds, lr=s.lr))  # fmt: skip
        return Listeners(parts)

    def _train_epochs(self, listeners: Listener) -> None:
        """The epochs still to run: steps, validation and stops (the rest is ``listeners``)."""
        from ..speed import train_path

        s, run, (choice, data, network) = self.settings, self.state, self._parts()
        steps, total_steps = data.steps, data.total_steps
        start_epoch, start_step = network.position()
        # XLA or the plain graph for image batches: measured per machine (alexnet_tf.speed).
        # On head mode's tiny fc8 step XLA's per-call overhead (37 ms vs 3 ms) would dominate.
        train_step = make_train_step(
            choice.strategy, network.net, network.optimizer, s.batch_size,
            jit_compile=not run.on_features and train_path(s.precision) == "xla",
        )  # fmt: skip
        done_steps = start_epoch * steps + start_step
        self._phase(
            "train", f"Training: {total_steps - done_steps} steps to go on {choice.description}"
        )
        self.job.update_status(total_steps=total_steps)
        listeners.on_train_begin(done_steps)
        try:
            for epoch in range(start_epoch, s.epochs):
                batches = self._batches(run.inputs, epoch, start_step, on_features=run.on_features)
                loss_sum = accuracy_sum = 0.0
                for step in range(start_step, steps):
                    listeners.on_step_begin(epoch, step)
                    loss, accuracy, norm = train_step(next(batches))
                    loss, accuracy = float(loss), float(accuracy)  # waits for the step
                    check_step(loss, float(norm), num_classes=len(data.scan.classes), lr=s.lr,
                               where=f"in epoch {epoch + 1}, step {step + 1}")  # fmt: skip
                    done_steps += 1
                    loss_sum += loss
                    accuracy_sum += accuracy
                    listeners.on_step_end(epoch, step, dict(
                        epoch=epoch, epochs=s.epochs, step=step + 1, steps=steps,
                        global_step=done_steps, total_steps=total_steps, loss=loss,
                        accuracy=accuracy,
                    ))  # fmt: skip
                    # A stop on an epoch's last step lets the epoch end first (validation, its
                    # metrics) and is saved as (epoch + 1, 0): a resume that started with none
                    # of an epoch's steps left would give it no training loss.
                    if self.stop() and step + 1 < steps:
                        listeners.on_stop(epoch, step + 1)
                        raise Cancelled()
                ran, start_step = steps - start_step, 0
                validation = self._validate(run.predict, run.inputs, on_features=run.on_features)
                listeners.on_epoch_end(epoch, dict(
                    epoch=epoch, loss=loss_sum / ran if ran else None,
                    accuracy=accuracy_sum / ran if ran else None,
                    **validation_scores(validation), global_step=done_steps,
                ))  # fmt: skip
                if self.stop():
                    listeners.on_stop(epoch + 1, 0)
                    raise Cancelled()
        finally:
            listeners.on_train_end()

    # -- 5. finish -----------------------------------------------------------------------
    def _finish(self) -> int:
        """Keep the best (or last) epoch's weights, save the model, evaluate, report."""
        job, (choice, data, network) = self.job, self._parts()
        self._phase("save", "Saving the model and evaluating it...")
        kept = self._keep_weights()
        model_path = self._save_model()
        summary = self._evaluate(kept)
        if summary:
            kept.update(val_accuracy=summary["top1"], val_loss=summary["loss"])
        done_steps = data.total_steps
        message = f"finished: model saved to {model_path}, weights of {describe_kept(kept)}"
        if choice.is_chief:
            job.write_json(job.job_json, {**read_job_json(self.job_dir), "kept": kept})
        # The step count a test (or a user) can check: epochs x steps_per_epoch, however
        # many times the job was stopped and resumed.
        job.update_status(
            state="finished", progress=1.0, eta_seconds=0, message=message, kept=kept,
            step=done_steps, global_step=done_steps, total_steps=data.total_steps,
        )  # fmt: skip
        job.log(message)
        if choice.is_chief:
            _start_flatbuffer_build(self.job_dir, job)
        self.reporter.emit(
            "done",
            model_path=str(model_path),
            job_dir=str(self.job_dir),
            eval=summary,
            kept=kept,
            worker=choice.worker_index,
            global_step=done_steps,
            total_steps=data.total_steps,
            # Sum of |w| over all weights: lets workers of one job check that they agree.
            weights_digest=float(
                sum(np.abs(w).sum(dtype=np.float64) for w in network.model.get_weights())
            ),
        )
        return EXIT_OK

    def _keep_weights(self) -> dict:
        """Put the kept epoch's weights in place; returns ``{"epoch", "rule"}`` (0-based)."""
        network = self.state.network
        last = {"epoch": self.settings.epochs - 1, "rule": "last"}
        if network.best is None:
            return last
        best = network.best.describe()
        if best is None:  # no validation images: nothing to choose by
            return {**last, "rule": "last, no validation images"}
        network.best.restore_into(network.net.trainable_variables)
        return {"epoch": best["epoch"], "rule": "best"}

    def _save_model(self) -> Path:
        """Save the kept model as a plain AlexNet (float32, whatever the training precision,
        with fc8's input standardisation folded into fc8) and its labels."""
        import keras

        from ..model import build_alexnet

        choice, data, network = self._parts()
        classes = data.scan.classes
        destination = model_file(self.job_dir)  # the job's, whichever worker this is
        weights = network.model.get_weights()
        if not all_finite(weights):
            raise DivergedError(
                divergence_message("the weights became non-finite", self.settings.lr, "")
            )
        if not choice.is_chief:
            return destination  # workers of a multi-worker job write nothing there
        keras.mixed_precision.set_global_policy("float32")
        final = build_alexnet(len(classes), dropout=self.settings.dropout)
        final.set_weights(weights)
        fc8 = final.get_layer("fc8")
        statistics = network.standardizer.statistics()
        fc8.set_weights(fold_standardization(*fc8.get_weights(), *statistics))
        with atomic_path(destination, suffix=".keras") as temporary:
            final.save(temporary)
        write_json_atomic(
            self.job.labels_file,
            {"labels": list(classes), "preprocessing": PREPROCESSING},
        )
        return destination

    def _evaluate(self, kept: dict) -> dict | None:
        """eval.json from the validation set; returns the summary for the done event."""
        run = self.state
        validation = self._validate(run.predict, run.inputs, on_features=run.on_features)
        if validation is None:
            self.job.log("no validation images (val_split 0 or classes too small): no eval.json")
            return None
        from ..metrics import evaluate_predictions

        data = run.data
        paths = [str(data.scan.items[i].path) for i in data.val_idx]
        report = evaluate_predictions(
            validation.truth, validation.probs, list(data.scan.classes), paths
        )
        report["loss"] = validation.loss
        report["kept"] = kept
        if run.choice.is_chief:
            self.job.write_json(self.job.eval_json, report)
        return {k: report[k] for k in ("top1", "top5", "loss", "num_examples") if k in report}

    def _record_dataset(self, recorded_job: dict, init_text: str) -> None:
        """job.json's dataset part (once) and the start event."""
        s, run = self.settings, self.state
        if run.choice.is_chief and "dataset" not in recorded_job:
            self.job.write_json(self.job.job_json, dataset_record(recorded_job, s, run, init_text))
        fields = start_fields(s, run, init_text, job_dir=self.job_dir, resumed=self.resume)
        self.reporter.emit("start", **fields)
        self.job.log(f"strategy: {run.choice.description}; initial weights: {init_text}")


def _is_peer_failure(error: Exception) -> bool:
    """Errors a collective step raises when another worker died or cannot be reached."""
    import tensorflow as tf

    peer_errors = (tf.errors.UnavailableError, tf.errors.AbortedError,
                   tf.errors.DeadlineExceededError, tf.errors.CancelledError)  # fmt: skip
    return isinstance(error, peer_errors)


def run_training(settings: TrainSettings, job_dir, *, resume=False, json_lines=False,
                 resume_command: str | None = None) -> int:  # fmt: skip
    """Run (or resume) a job in this process with signal handling; returns the exit status.
    ``resume_command``: how the user resumes the job, named in messages (see TrainingJob)."""
    stop = StopFlag()
    stop.install()
    reporter = ProgressReporter(json_lines=json_lines)
    return TrainingJob(settings, job_dir, resume=resume, reporter=reporter, stop=stop,
                       resume_command=resume_command).run()  # fmt: skip


def prepare_resume(job_dir, overrides: dict) -> TrainSettings:
    """Settings for resuming ``job_dir``: those of its job.json; ``overrides`` (options given
    on the command line) must not change a result-defining setting.

    Raises:
        JobFolderError: not a job folder, or the job already finished.
        SettingsError: an override differs from the job's settings.
    """
    job_dir = Path(job_dir).expanduser().resolve()
    recorded = read_job_json(job_dir)
    status = read_status_json(job_dir)
    if status.get("state") == "finished":
        raise JobFolderError(f"The job in {job_dir} has already finished; nothing to resume.")
    from .strategy import is_chief_process

    # Other workers of a multi-worker resume join a chief that is already running.
    if job_is_alive(status) and is_chief_process():
        raise JobFolderError(
            f"The job in {job_dir} is still running (process {status.get('pid')}); "
            "cancel it before resuming."
        )
    settings = TrainSettings.from_dict(recorded["settings"])
    if overrides:
        data = settings.to_dict()
        data.update(overrides)
        if "init" in overrides and overrides["init"] not in ("imagenet", "scratch", "auto"):
            data["init"] = str(Path(overrides["init"]).expanduser().resolve())
        requested = TrainSettings.from_dict(data)
        differences = requested.differences(settings)
        if differences:
            raise SettingsError(
                f"Resuming {job_dir} with different settings is refused (the result would be "
                f"neither job): {'; '.join(differences)}. Resume without these options, or start "
                "a new job with --out."
            )
        settings = requested
    return settings


def _start_flatbuffer_build(job_dir: Path, job) -> None:
    """Convert the finished model for LiteRT in a background process, so that the app's and
    ``classify``'s first answer with it need no TensorFlow. A job finished again replaces
    model.keras, which makes the previous flatbuffer stale (alexnet_tf.flatbuffer_cache)."""
    from ..errors import AlexNetStudioError
    from ..flatbuffer_cache import start_background_build

    try:
        start_background_build(job_dir)
    except (OSError, AlexNetStudioError) as error:  # the model is saved; this only saves time
        job.log(f"the LiteRT flatbuffer could not be started: {error}")
