"""``alexnet-studio train``: fine-tune AlexNet on a folder of images (one sub-folder per class).

Argument parsing only; the job runs in ``alexnet_tf.training.loop``. Exit status: 0 when the
job finished or was cancelled on request (SIGINT/SIGTERM; status.json says ``cancelled``
and ``--resume`` continues it), 1 when it failed (the error event and status.json say why),
2 for bad command-line usage.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..training.recipe import DEFAULT_LR

# Options whose value defines the result; on --resume, giving one that differs is refused.
_OPTIONS = ("epochs", "mode", "batch_size", "lr", "val_split", "seed", "precision", "init",
            "augment", "dropout", "cpu_replicas", "log_every", "checkpoint_seconds",
            "watchdog_seconds", "keep")  # fmt: skip


def register(subparsers) -> None:
    """Add the ``train`` command."""
    parser = subparsers.add_parser(
        "train",
        help="fine-tune AlexNet on a folder of images",
        description="Fine-tune AlexNet on FOLDER (one sub-folder of images per class). Everything "
        "the job produces goes to the job folder (--out): settings, status, metrics, checkpoints, "
        "TensorBoard logs, the final model and its evaluation. Ctrl-C (or SIGTERM) checkpoints "
        "and stops; --resume continues. Exit status 0: finished or cancelled, 1: failed.",
    )
    parser.add_argument("folder", nargs="?", help="the dataset folder (omit with --resume)")
    parser.add_argument("--out", metavar="JOB_DIR", help="the job folder to create "
                        "(default: a new folder under the app's jobs folder)")  # fmt: skip
    parser.add_argument("--resume", metavar="JOB_DIR", help="continue a cancelled or killed job")
    parser.add_argument("--epochs", type=int, help="passes over the training images (default 10)")
    parser.add_argument("--mode", choices=("head", "top", "full"),
                        help="what trains: head = fc8 only (fast, on cached features; default), "
                        "top = fc6-fc8, full = every layer")  # fmt: skip
    parser.add_argument("--batch-size", type=int, help="global batch size (default 32)")
    parser.add_argument("--lr", type=float,
                        help="peak learning rate of SGD with momentum 0.9, decayed along a "
                        "cosine; fc8 reads standardised features, so it does not depend on the "
                        "network's scale (default "
                        + ", ".join(f"{lr:g} {mode}" for mode, lr in DEFAULT_LR.items())
                        + "; see docs/finetune.md)")  # fmt: skip
    parser.add_argument("--keep", choices=("best", "last"),
                        help="the model saved: the epoch with the best validation accuracy "
                        "(default) or the last epoch")  # fmt: skip
    parser.add_argument(
        "--val-split", type=float, help="fraction of each class kept for validation (default 0.2)"
    )
    parser.add_argument("--seed", type=int, help="seed of the split, order and augmentation (0)")
    parser.add_argument(
        "--precision",
        choices=("fp32", "bf16", "fp16"),
        help="compute precision (default fp32; fp16 needs a GPU). Measured here: "
        + _precision_advice(),
    )
    parser.add_argument(
        "--init",
        metavar="imagenet|scratch|JOB_DIR",
        help="initial weights (default: ImageNet when installed, else scratch)",
    )
    parser.add_argument(
        "--cpu-replicas", type=int, help="split the CPU into N logical devices (MirroredStrategy)"
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON event per line on stdout instead of a progress bar",
    )
    # Advanced (used by tests and experiments): hidden from --help.
    parser.add_argument(
        "--no-augment", dest="augment", action="store_const", const=False, help=argparse.SUPPRESS
    )
    parser.add_argument("--dropout", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--log-every", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--checkpoint-seconds", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--watchdog-seconds", type=float, help=argparse.SUPPRESS)
    parser.set_defaults(handler=run_train, runs_model=True)


def _precision_advice() -> str:
    """What the cached measurement says about bf16 on this machine (no TensorFlow import)."""
    from ..speed import precision_advice, read_measurement

    try:
        return precision_advice(read_measurement()).replace("%", "%%")  # argparse formats help
    except OSError:  # an unreadable data folder must not break --help
        return "not measured."


def _tell_execution_path(settings, json_lines: bool) -> None:
    """Say which path the training step runs on, and why (head mode: always the graph)."""
    if json_lines or settings.mode == "head":
        return
    from ..speed import forced_path, read_measurement, train_path

    entry = None if forced_path() else read_measurement()
    path = train_path(settings.precision, entry)
    if forced_path():
        why = "forced by ALEXNET_STUDIO_EXECUTION"
    else:
        why = "measured fastest here" if entry else "the default until this machine is measured"
    name = "XLA" if path == "xla" else "plain graph"
    print(f"Execution: {name} for {settings.precision} ({why})", file=sys.stderr, flush=True)


def _given(args) -> dict:
    return {name: getattr(args, name) for name in _OPTIONS if getattr(args, name) is not None}


def _default_job_dir(folder: str) -> Path:
    from ..paths import jobs_dir

    stamp = time.strftime("%Y%m%d-%H%M%S")
    return jobs_dir() / f"{Path(folder).resolve().name or 'job'}-{stamp}"


def _check_new_job_dir(job_dir: Path) -> None:
    from ..destinations import check_folder_destination
    from ..training.settings import SettingsError

    check_folder_destination(job_dir)  # a file in the way, read-only: before the scan

    if (job_dir / "job.json").exists():
        raise SettingsError(
            f"{job_dir} already holds a job; use --resume {job_dir} to continue it, "
            "or choose another --out."
        )
    # A folder left by a job that failed before writing job.json may be reused; others not.
    if job_dir.exists() and any(job_dir.iterdir()) and not (job_dir / "status.json").exists():
        raise SettingsError(f"{job_dir} is not empty; give a new or empty folder as --out.")


def run_train(args) -> int:
    """Handler of ``train``: check the arguments, then run the job in this process."""
    from ..errors import AlexNetStudioError, DestinationError

    try:
        return _run_train(args)
    except AlexNetStudioError as error:
        if not args.json:
            raise
        from ..training.events import ProgressReporter

        ProgressReporter(json_lines=True).emit("error", message=str(error))
        return 2 if isinstance(error, DestinationError) else 1


def _run_train(args) -> int:
    from ..training.settings import SettingsError

    if args.resume:
        from ..training.loop import prepare_resume, run_training

        given = _given(args)
        if args.folder:
            given["folder"] = args.folder
        if args.out and Path(args.out).resolve() != Path(args.resume).resolve():
            raise SettingsError("--out and --resume name different folders; give only --resume.")
        settings = prepare_resume(args.resume, given)
        _tell_execution_path(settings, args.json)
        return run_training(settings, args.resume, resume=True, json_lines=args.json)
    if not args.folder:
        raise SettingsError("Give the dataset FOLDER to train on, or --resume JOB_DIR.")
    if not Path(args.folder).is_dir():
        raise SettingsError(f"{args.folder}: not a folder. Received: folder={args.folder!r}")
    job_dir = Path(args.out) if args.out else _default_job_dir(args.folder)
    from ..training.strategy import is_chief_process

    if is_chief_process():  # other workers of a multi-worker job never touch --out
        _check_new_job_dir(job_dir)
    folder = Path(args.folder).resolve()
    if job_dir.resolve().is_relative_to(folder):
        raise SettingsError(
            f"--out {job_dir} is inside the dataset folder; nothing may be written there."
        )
    from ..training.loop import run_training
    from ..training.settings import TrainSettings

    settings = TrainSettings(folder=str(folder), **_given(args))
    if is_chief_process():
        from ..training.job import create_job_folder

        # The folder appears with its job.json: a job killed while starting can be resumed.
        create_job_folder(job_dir, {"settings": settings.to_dict(), "created": time.time()})
    _tell_execution_path(settings, args.json)
    return run_training(settings, job_dir, json_lines=args.json)
