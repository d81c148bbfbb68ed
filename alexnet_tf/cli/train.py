"""``alexnet-studio train``: fine-tune AlexNet on a folder of images (one sub-folder per class).

Argument parsing only; the job runs in ``alexnet_tf.training.loop``. Exit status: 0 when the
job finished or was cancelled on request (SIGINT/SIGTERM; status.json says ``cancelled``
and ``--resume`` continues it), 1 when it failed (the error event and status.json say why),
2 for bad command-line usage and for a resume this version refuses (a job written by another
version, or with settings it does not know; ``--force`` resumes it anyway).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .. import jobfolder
from ..errors import AlexNetStudioError
from ..jobfolder import KEEP, MODES, PRECISIONS
from ..training.recipe import DEFAULT_LR

EXIT_REFUSED = 2  # a resume this version will not do without --force

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
    parser.add_argument("--force", action="store_true",
                        help="with --resume: continue a job written by another version of "
                        "AlexNet Studio, or holding settings this version does not know "
                        "(what is ignored is printed)")  # fmt: skip
    parser.add_argument("--epochs", type=int, help="passes over the training images (default 10)")
    parser.add_argument("--mode", choices=MODES,
                        help="what trains: head = fc8 only (fast, on cached features; default), "
                        "top = fc6-fc8, full = every layer")  # fmt: skip
    parser.add_argument("--batch-size", type=int, help="global batch size (default 32)")
    parser.add_argument("--lr", type=float,
                        help="peak learning rate of SGD with momentum 0.9, decayed along a "
                        "cosine; fc8 reads standardised features, so it does not depend on the "
                        "network's scale (default "
                        + ", ".join(f"{lr:g} {mode}" for mode, lr in DEFAULT_LR.items())
                        + "; see docs/finetune.md)")  # fmt: skip
    parser.add_argument("--keep", choices=KEEP,
                        help="the model saved: the epoch with the best validation accuracy "
                        "(default) or the last epoch")  # fmt: skip
    parser.add_argument(
        "--val-split", type=float, help="fraction of each class kept for validation (default 0.2)"
    )
    parser.add_argument("--seed", type=int, help="seed of the split, order and augmentation (0)")
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        help="compute precision (default fp32; fp16 needs a GPU). Whether bf16 trains faster "
        "on this machine: see the `info` command (a job says it too when it starts)",
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


def _tell_execution_path(settings, json_lines: bool) -> None:
    """Say which path the training step runs on, and why (head mode: always the graph), and
    what the measurement says of bf16 here. Read when the job starts, never while the parser
    is built: ``--help`` must not depend on a cache (a damaged one once broke every command)."""
    if json_lines:
        return
    from ..speed import forced_path, precision_advice, read_measurement, train_path

    entry = read_measurement()
    if entry is not None:
        print(f"Measured here: {precision_advice(entry)}", file=sys.stderr, flush=True)
    if settings.mode == "head":
        return
    path = train_path(settings.precision, entry)
    if forced_path():
        why = "forced by ALEXNET_STUDIO_EXECUTION"
    else:
        why = "measured fastest here" if entry else "the default until this machine is measured"
    name = "XLA" if path == "xla" else "plain graph"
    print(f"Execution: {name} for {settings.precision} ({why})", file=sys.stderr, flush=True)


def _resume_command(job_dir) -> str:
    """The command that resumes ``job_dir``, as the job's messages name it."""
    return f"`alexnet-studio train --resume {Path(job_dir).expanduser().resolve()}`"


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
    if (job_dir / jobfolder.JOB_JSON).exists():
        raise SettingsError(
            f"{job_dir} already holds a job; use --resume {job_dir} to continue it, "
            "or choose another --out."
        )
    # A folder left by a job that failed before writing job.json may be reused; others not.
    if (
        job_dir.exists()
        and any(job_dir.iterdir())
        and not (job_dir / jobfolder.STATUS_JSON).exists()
    ):
        raise SettingsError(f"{job_dir} is not empty; give a new or empty folder as --out.")


def run_train(args) -> int:
    """Handler of ``train``: check the arguments, then run the job in this process."""
    from ..errors import DestinationError

    try:
        return _run_train(args)
    except ResumeRefusedError as error:
        _report_error(args, error)
        return EXIT_REFUSED
    except AlexNetStudioError as error:
        if not args.json:
            raise
        _report_error(args, error)
        return 2 if isinstance(error, DestinationError) else 1


class ResumeRefusedError(AlexNetStudioError):
    """A job this version does not resume faithfully (and --force was not given)."""


def _report_error(args, error: Exception) -> None:
    if not args.json:
        print(f"error: {error}", file=sys.stderr)
        return
    from ..training.events import ProgressReporter

    ProgressReporter(json_lines=True).emit("error", message=str(error))


def _check_resumable(job_dir: str, force: bool) -> None:
    """Refuse (or with ``force``, warn about) a job this version would not continue as it
    was started: another job format or project version, or settings it does not know.

    Raises:
        ResumeRefusedError: something would be ignored and ``force`` is False.
        JobFolderError: not a job folder, or its job.json is damaged.
    """
    from ..training.job import read_job_json

    mismatches = jobfolder.resume_mismatches(read_job_json(Path(job_dir).expanduser()))
    if not mismatches:
        return
    if not force:
        raise ResumeRefusedError(
            f"{job_dir} is not resumed by this version: {'; '.join(mismatches)}. Resuming it "
            "would continue it under other rules. Start a new job, or pass --resume "
            f"{job_dir} --force to continue anyway."
        )
    print(
        f"warning: resuming {job_dir} anyway (--force): {'; '.join(mismatches)}. Ignored: "
        "the differences of versions, and any setting this version does not know.",
        file=sys.stderr,
        flush=True,
    )


def _check_batch_fits(folder: Path, settings) -> None:
    """Refuse a batch larger than the training images before the job folder is made (the
    job would fail after creating it). Counts files without opening them: an upper bound."""
    import numpy as np

    from ..data.scan import count_class_files
    from ..training.pipeline import split_train_val
    from ..training.settings import SettingsError

    counts = count_class_files(folder)
    if not counts:
        return  # no class folders: the scan says so, with its own message
    labels = np.repeat(np.arange(len(counts)), counts)
    train, _ = split_train_val(labels, settings.val_split, settings.seed)
    if len(train) < settings.batch_size:
        raise SettingsError(
            f"batch_size is larger than the {len(train)} training images in {folder} "
            f"(after keeping {settings.val_split:.0%} for validation); lower it. Received: "
            f"batch_size={settings.batch_size}"
        )


def _run_train(args) -> int:
    from ..training.settings import SettingsError

    if args.force and not args.resume:
        raise SettingsError("--force applies to --resume only.")
    if args.resume:
        _check_resumable(args.resume, args.force)
        from ..training.loop import prepare_resume, run_training

        given = _given(args)
        if args.folder:
            given["folder"] = args.folder
        if args.out and Path(args.out).resolve() != Path(args.resume).resolve():
            raise SettingsError("--out and --resume name different folders; give only --resume.")
        settings = prepare_resume(args.resume, given)
        _tell_execution_path(settings, args.json)
        return run_training(settings, args.resume, resume=True, json_lines=args.json,
                            resume_command=_resume_command(args.resume))  # fmt: skip
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
    _check_batch_fits(folder, settings)
    if is_chief_process():
        from ..training.job import create_job_folder

        # The folder appears with its job.json: a job killed while starting can be resumed.
        create_job_folder(job_dir, jobfolder.new_job_record(settings.to_dict()))
    _tell_execution_path(settings, args.json)
    return run_training(settings, job_dir, json_lines=args.json,
                        resume_command=_resume_command(job_dir))  # fmt: skip
