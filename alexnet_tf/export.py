"""Export a fine-tuned model (a job folder) or the ImageNet model: ``.keras``, SavedModel, TFLite.

Every export carries the class names: a ``labels.json`` (the job's own,
``{"labels": [...], "preprocessing": "caffe-bvlc-227"}``) beside the model file, or inside the
SavedModel folder. The SavedModel and TFLite files take plain photos (``alexnet_tf.serving``
does the project's preprocessing inside the graph), so a deployer needs neither this project
nor the Caffe recipe; docs/export.md shows their use. Each export is built in a temporary file
or folder beside the destination and moved into place with ``os.replace``, so an interrupted
export leaves no half-written model; the temporaries' names hold the pid of their process, and
the next export into the same folder removes those of processes that are gone. An export
leaves a marker (``MARKER_FILE``), and ``--force`` replaces only a path that carries one.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

from . import jobfolder
from .destinations import check_parent_writable, writing
from .errors import DamagedFileError, ExportDestinationError, ExportError
from .fileio import (
    atomic_path,
    read_json,
    temporary_name,
    write_json_atomic,
)
from .jobfolder import LABELS_FILE, MODEL_FILE
from .temporaries import remove_stale_temporaries

FORMATS = ("keras", "savedmodel", "tflite")
# Every export leaves this marker (inside a folder, as ``.NAME.`` + it beside a file):
# ``--force`` replaces only what carries one, never a user's file of the same name.
MARKER_FILE = "alexnet-studio-export.json"
_MARKER_SPEC = {"written_by": str, "format": str}


def _job_model(job_dir: Path) -> tuple[Path, dict]:
    """The job's ``model.keras`` and the content of its ``labels.json``, checked."""
    if not job_dir.is_dir():
        raise ExportError(f"{job_dir}: no such job folder.")
    model_file = jobfolder.model_file(job_dir)
    labels_file = jobfolder.labels_file(job_dir)
    if not model_file.is_file():
        state = None
        with contextlib.suppress(DamagedFileError):
            state = jobfolder.read_status_file(job_dir).get("state")
        if state is None and not (job_dir / jobfolder.JOB_JSON).is_file():
            raise ExportError(f"{job_dir}: not a training job folder (no job.json, no model).")
        hint = {
            "running": "the job is still running; export it when it has finished",
            "cancelled": "it was cancelled; finish it with "
            f"`alexnet-studio train --resume {job_dir}`",
            "failed": f"it failed (see {job_dir / jobfolder.LOG_TXT}); fix the cause and resume it",
        }.get(state, "the job has not finished")
        raise ExportError(
            f"{job_dir}: no trained model yet (model/model.keras is missing): {hint}."
        )
    try:
        labels = jobfolder.read_labels_file(labels_file)
    except FileNotFoundError:
        raise ExportError(f"{labels_file}: missing; the job's model has no class names.") from None
    except DamagedFileError as error:
        raise ExportError(
            f'{error} (expected {{"labels": ["name", ...], ...}}): the job\'s model has no '
            "readable class names."
        ) from None
    return model_file, labels


def _marker_path(out: Path, as_folder: bool) -> Path:
    """Where the export at ``out`` keeps its marker: inside a folder, beside a file."""
    return out / MARKER_FILE if as_folder else out.with_name(f".{out.name}.{MARKER_FILE}")


def _has_marker(out: Path, as_folder: bool) -> bool:
    try:
        read_json(_marker_path(out, as_folder), max_bytes=4096, spec=_MARKER_SPEC)
    except (OSError, DamagedFileError):
        return False
    return True


def _is_earlier_export(out: Path) -> bool:
    """Whether ``out`` is what an export wrote: it carries the marker an export leaves.

    Folders exported before markers existed (a SavedModel or ``model.keras`` with the
    ``labels.json`` of an export) count too; a file without its marker never does.
    """
    if out.is_symlink():
        return False
    if out.is_dir():
        if _has_marker(out, as_folder=True):
            return True
        legacy = (out / "saved_model.pb").is_file() or (out / MODEL_FILE).is_file()
        return legacy and _is_labels_file(out / LABELS_FILE)
    return out.is_file() and _has_marker(out, as_folder=False)


def _is_labels_file(path: Path) -> bool:
    try:
        jobfolder.read_labels_file(path)
    except (OSError, DamagedFileError):
        return False
    return True


def _check_destination(out: Path, as_folder: bool, labels_path: Path, labels: dict, force: bool):
    if out.exists() or out.is_symlink():
        if not force:
            raise ExportDestinationError(out, "already exists; choose another path or pass --force")
        if not _is_earlier_export(out):
            # --force replaces an earlier export, never a file or folder of the user's.
            what = "folder" if out.is_dir() and not out.is_symlink() else "file"
            raise ExportDestinationError(
                out,
                f"is a {what} that is not an earlier export (no {MARKER_FILE} "
                f"{'in' if what == 'folder' else 'beside'} it); refusing to replace it even "
                "with --force: choose another path, or remove it yourself",
            )
    if not as_folder and (labels_path.exists() or labels_path.is_symlink()):
        with contextlib.suppress(OSError, DamagedFileError):
            if jobfolder.read_labels_file(labels_path) == labels:
                return
        if not force:
            raise ExportDestinationError(
                labels_path,
                "already exists with other class names; export into another folder or pass --force",
            )
        if labels_path.is_symlink() or not _is_labels_file(labels_path):
            raise ExportDestinationError(
                labels_path,
                "is not the labels.json of an export; refusing to replace it even with "
                "--force: export into another folder",
            )


def _replace_folder(source: Path, destination: Path) -> None:
    """Move the finished folder ``source`` to ``destination``, replacing an earlier export."""
    old = None
    if destination.exists() or destination.is_symlink():
        old = destination.with_name(temporary_name(destination.name, "old"))
        os.replace(destination, old)
    os.replace(source, destination)
    _remove_file_marker(destination)  # a folder now stands where a file export was
    if old is not None:
        if old.is_dir() and not old.is_symlink():
            shutil.rmtree(old, ignore_errors=True)
        else:
            old.unlink()


def _remove_file_marker(out: Path) -> None:
    with contextlib.suppress(OSError):
        _marker_path(out, as_folder=False).unlink()


def _imagenet_labels() -> dict:
    from .labels import imagenet_labels

    return {"labels": list(imagenet_labels()), "preprocessing": jobfolder.PREPROCESSING}


def _load(job_dir: Path | None):
    from .inference import Classifier

    # Classifier.load is the one loader of model files: safe mode on, AlexNet checked; None
    # is the installed ImageNet model.
    return Classifier.load(job_dir).model


def _write_archive(model, folder: Path, endpoints: dict) -> None:
    import keras

    archive = keras.export.ExportArchive()
    archive.track(model)
    for name, function in endpoints.items():  # the first one is also "serving_default"
        archive.add_endpoint(name, function)
    archive.write_out(str(folder), verbose=False)


def _export_saved_model(model, folder: Path, labels: list[str]) -> None:
    from .serving import serving_functions

    endpoints = serving_functions(model, labels)
    # serving_default is the photo endpoint: what TensorFlow Serving users call first.
    order = ("serve_image_bytes", "serve_rgb", "serve")
    _write_archive(model, folder, {name: endpoints[name] for name in order})


def _tflite_bytes(model, workdir: Path) -> bytes:
    import tensorflow as tf

    from .serving import tflite_function

    saved = workdir / "saved_model"
    _write_archive(model, saved, {"classify": tflite_function(model)})
    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved), signature_keys=["classify"])
    return converter.convert()


def _write_keras(model, model_file: Path | None, out: Path) -> None:
    """A job's own file is copied byte for byte; the ImageNet model is saved."""
    with atomic_path(out, suffix=".keras") as temporary:
        if model_file is None:
            model.save(temporary)
        else:
            shutil.copyfile(model_file, temporary)


def export_model(job_dir, fmt: str, out, *, force: bool = False) -> Path:
    """Export a job's trained model, or the ImageNet model, with its class names.

    Args:
        job_dir: a training job folder with ``model/model.keras`` and ``model/labels.json``,
            or ``None`` for the installed ImageNet model.
        fmt: ``"keras"`` (a ``.keras`` file; ``out`` without that suffix becomes a folder with
            ``model.keras`` and ``labels.json``), ``"savedmodel"`` (a folder that TensorFlow
            Serving and ``tf.saved_model.load`` read, labels inside; signatures
            ``serve_image_bytes`` (also ``serving_default``), ``serve_rgb`` and ``serve``, see
            ``alexnet_tf.serving``) or ``"tflite"`` (a ``.tflite`` file; signature
            ``classify``, input ``image`` ``(1, 256, 256, 3)`` uint8 RGB, resizable batch).
        out: the destination path.
        force: replace an existing export at ``out`` (and its ``labels.json``).

    Returns:
        The path of the exported model.

    Raises:
        ExportError: unknown format, or the job has no finished model.
        ExportDestinationError: ``out`` exists (without ``force``, or it is not an earlier
            export); a ``DestinationError`` (exit status 2), as is the one raised when its
            folder is not writable.
        ModelLoadError: the job's model file is damaged or refused by safe mode.
        WeightsNotInstalledError: ``job_dir`` is ``None`` and no ImageNet weights are installed.
    """
    if fmt not in FORMATS:
        raise ExportError(f"format must be one of {', '.join(FORMATS)}. Received: fmt={fmt!r}")
    out = Path(out).expanduser().absolute()
    if job_dir is None:
        from .weights.store import weights_installed

        if not weights_installed():
            from .errors import WeightsNotInstalledError

            raise WeightsNotInstalledError()
        model_file, labels = None, _imagenet_labels()
    else:
        job_dir = Path(job_dir).expanduser().absolute()
        model_file, labels = _job_model(job_dir)
    as_folder = fmt == "savedmodel" or (fmt == "keras" and out.suffix.lower() != ".keras")
    labels_path = out / LABELS_FILE if as_folder else out.with_name(LABELS_FILE)
    _check_destination(out, as_folder, labels_path, labels, force)
    check_parent_writable(out)  # before loading and converting the model
    with writing(out):
        out.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(out.parent)  # what exports killed with -9 left here
    model = _load(job_dir)  # also refuses to export a damaged or unsafe file
    with writing(out):
        _write_export(model, model_file, fmt, out, as_folder, labels_path, labels)
    return out


def _write_export(model, model_file, fmt, out: Path, as_folder: bool, labels_path, labels):
    marker = {"written_by": "alexnet-studio export", "format": fmt}
    if not as_folder and out.is_dir() and not out.is_symlink():
        # An earlier folder export (checked) where a file export goes: set aside meanwhile.
        aside = out.with_name(temporary_name(out.name, "old"))
        os.replace(out, aside)
        try:
            _write_export(model, model_file, fmt, out, as_folder, labels_path, labels)
        except BaseException:
            os.replace(aside, out)
            raise
        shutil.rmtree(aside, ignore_errors=True)
        return
    if not as_folder:
        if fmt == "keras":
            _write_keras(model, model_file, out)
        else:
            workdir = Path(tempfile.mkdtemp(prefix=temporary_name(out.name) + "-", dir=out.parent))
            try:
                data = _tflite_bytes(model, workdir)
            finally:
                shutil.rmtree(workdir, ignore_errors=True)
            with atomic_path(out) as temporary:
                temporary.write_bytes(data)
        write_json_atomic(_marker_path(out, as_folder=False), marker)
        write_json_atomic(labels_path, labels)
        return
    workdir = Path(tempfile.mkdtemp(prefix=temporary_name(out.name) + "-", dir=out.parent))
    try:
        folder = workdir / "export"  # made with the user's umask (mkdtemp's is 0700)
        if fmt == "savedmodel":
            _export_saved_model(model, folder, labels["labels"])
        else:  # a keras folder: model.keras + labels.json
            folder.mkdir()
            _write_keras(model, model_file, folder / MODEL_FILE)
        write_json_atomic(folder / LABELS_FILE, labels)
        write_json_atomic(folder / MARKER_FILE, marker)
        _replace_folder(folder, out)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
