"""Resume from the newest checkpoint that can really be read.

A checkpoint can be damaged after it was written (a disk error, a copy cut short, a file
removed by hand). TensorFlow checks each tensor's checksum when it restores it, so a damaged
file fails loudly; this module then falls back to the previous checkpoint and says which one
it skipped and why. A killed save never damages anything: TensorFlow writes a new checkpoint
under temporary names and lists it only once it is complete.
"""

from __future__ import annotations

import errno
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from .job import JobFolderError


@dataclass
class RestoreResult:
    """What ``restore_newest_usable`` did.

    Attributes:
        restored: the checkpoint prefix that was restored, or None when there was none.
        damaged: ``(checkpoint prefix, reason)`` for each newer checkpoint that was skipped.
    """

    restored: str | None = None
    damaged: list[tuple[str, str]] = field(default_factory=list)

    def describe(self) -> str:
        """One sentence for the log and the status, e.g. 'ckpt-12 is damaged (...): resumed
        from ckpt-8'."""
        skipped = "; ".join(f"{Path(p).name} is damaged ({reason})" for p, reason in self.damaged)
        if self.restored is None:
            return skipped or "no checkpoint yet"
        resumed = f"resumed from {Path(self.restored).name}"
        return f"{skipped}: {resumed} instead" if skipped else resumed


# What the operating system says, found anywhere in a TensorFlow error, and what it means.
# Write errors that mean "the disk", not "the program": errno -> what the user is told.
DISK_ERRORS = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is exceeded",
    errno.EROFS: "the folder is read-only",
}
# TensorFlow's errors carry no errno, only its text: "No space left on device"...
_OS_REASONS = {
    os.strerror(code): meaning
    for code, meaning in {**DISK_ERRORS, errno.EACCES: "permission denied"}.items()
}


def tf_error_reason(error: Exception) -> str:
    """A short reason for a TensorFlow error, without its graph-node and op decorations."""
    message = getattr(error, "message", None) or str(error) or type(error).__name__
    for text, meaning in _OS_REASONS.items():
        if text in message:
            return f"{meaning} ({text})"
    message = re.sub(r"\{\{function_node [^}]*\}\}\s*|\s*\[Op:\w+\]", "", message).strip()
    first = message.splitlines()[0] if message else type(error).__name__
    return first if len(first) <= 200 else first[:197] + "..."


def restore_newest_usable(checkpoint, manager=None, *, prefixes=None) -> RestoreResult:
    """Restore ``checkpoint`` from the newest of ``manager.checkpoints`` that reads cleanly.

    Args:
        checkpoint: the ``tf.train.Checkpoint`` of the job (model, optimizer, counters).
        manager: its ``tf.train.CheckpointManager``.
        prefixes: instead of a manager, the checkpoint prefixes to try, oldest first (see
            ``checkpoint_prefixes``).

    Returns:
        A ``RestoreResult``: which checkpoint was restored (None if there were none) and
        which newer ones were skipped as damaged.

    Raises:
        JobFolderError: checkpoints exist but none of them can be read; resuming would
            silently start over, so the job refuses and names each checkpoint and reason.
    """
    import tensorflow as tf

    result = RestoreResult()
    for prefix in reversed(manager.checkpoints if prefixes is None else prefixes):
        try:
            # A failed restore may leave some variables restored; the next successful one
            # overwrites every variable, since it must match all of them.
            checkpoint.restore(prefix).assert_existing_objects_matched()
        # What TensorFlow raises for damaged files: OpError (bad checksum, missing file),
        # IndexError (a data file shorter than its index says), ValueError, AssertionError
        # (objects that do not match).
        except (tf.errors.OpError, IndexError, ValueError, AssertionError) as error:
            result.damaged.append((prefix, tf_error_reason(error)))
            continue
        result.restored = prefix
        return result
    if result.damaged:
        folder = Path(result.damaged[0][0]).parent
        raise JobFolderError(
            f"No checkpoint in {folder} can be read: {result.describe()}. "
            "This job cannot be resumed; start a new job."
        )
    return result


STATE_FILE = "checkpoint"  # TensorFlow's list of a folder's checkpoints (a text proto)
_NUMBERED = re.compile(r"^ckpt-(\d+)\.index$")


def _listed_names(folder: Path) -> list[str] | None:
    """Names in the folder's checkpoint list, or None when the list cannot be read."""
    path = folder / STATE_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, ValueError):  # ValueError: not UTF-8
        return None
    names = re.findall(r'^all_model_checkpoint_paths:\s*"([^"\n]*)"\s*$', text, re.MULTILINE)
    newest = re.findall(r'^model_checkpoint_path:\s*"([^"\n]*)"\s*$', text, re.MULTILINE)
    lines = [line for line in text.splitlines() if line.strip()]
    known = ("model_checkpoint_path:", "all_model_checkpoint_paths:",
             "all_model_checkpoint_timestamps:", "last_preserved_timestamp:")  # fmt: skip
    if not newest or any(not line.startswith(known) for line in lines):
        return None
    return [Path(name).name for name in names] or [Path(newest[0]).name]


def _number(name: str) -> int:
    return int(name.rsplit("-", 1)[1]) if re.fullmatch(r"ckpt-\d+", name) else -1


def checkpoint_prefixes(folder: str | Path) -> list[str]:
    """Every checkpoint of ``folder``, oldest first: those its list names and those whose
    index file exists (what ``repair_checkpoint_list`` would list), without writing anything.
    """
    folder = Path(folder)
    names = {
        p.name[: -len(".index")] for p in folder.glob("ckpt-*.index") if _NUMBERED.match(p.name)
    }
    names |= set(_listed_names(folder) or [])
    return [str(folder / name) for name in sorted(names, key=_number)]


def repair_checkpoint_list(folder: str | Path) -> str | None:
    """Make the folder's checkpoint list name every checkpoint it holds, oldest first.

    TensorFlow finds checkpoints only through that list (the ``checkpoint`` file). When it is
    missing or damaged, a resume would silently start over although the checkpoint files
    are there; when a save was killed after its files were complete but before the list was
    updated, the newest checkpoint would be ignored. Both are repaired here: the list is
    rewritten with every ``ckpt-N`` whose index file exists plus every one it already named
    (a listed checkpoint whose files are gone is then reported as damaged by the restore).

    Returns:
        A sentence saying what was repaired, or None when the list was already right.
    """
    folder = Path(folder)
    on_disk = [m.group(1) for p in folder.glob("ckpt-*.index") if (m := _NUMBERED.match(p.name))]
    on_disk = [f"ckpt-{n}" for n in on_disk]
    listed = _listed_names(folder)
    state_exists = (folder / STATE_FILE).exists()
    if listed is not None and set(on_disk) <= set(listed):
        return None
    if listed is None and not on_disk:
        return None  # no checkpoint at all (a damaged list of nothing: nothing to rebuild)
    names = sorted(set(on_disk) | set(listed or []), key=_number)
    from ..fileio import write_text_atomic

    def stamp(name: str) -> float:  # the manager deletes only checkpoints with a timestamp
        try:
            return (folder / f"{name}.index").stat().st_mtime
        except OSError:
            return 1.0

    lines = [f'model_checkpoint_path: "{names[-1]}"']
    lines += [f'all_model_checkpoint_paths: "{name}"' for name in names]
    lines += [f"all_model_checkpoint_timestamps: {stamp(name)!r}" for name in names]
    write_text_atomic(folder / STATE_FILE, "\n".join(lines) + "\n")
    if listed is None:
        what = "damaged" if state_exists else "missing"
        return (
            f"the list of checkpoints ({folder / STATE_FILE}) was {what}: rebuilt it from the "
            f"checkpoint files ({', '.join(names)})"
        )
    unlisted = sorted(set(on_disk) - set(listed), key=_number)
    return f"{', '.join(unlisted)} had been saved but not listed (a save was interrupted): added"


def remove_partial_saves(folder: str | Path) -> None:
    """Delete what an interrupted save left (``ckpt-N_temp`` folders): each may hold ~0.5 GB."""
    import shutil

    for leftover in Path(folder).glob("*_temp*"):
        if leftover.is_dir():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            leftover.unlink(missing_ok=True)


def save_checkpoint(manager, number: int) -> None:
    """``manager.save(number)``, or a ``JobFolderError`` that names the folder and the reason.

    A failed save (disk full, read-only folder) leaves the previous checkpoints as they were;
    its partial files are removed, so the space it took is given back.
    """
    import tensorflow as tf

    try:
        manager.save(checkpoint_number=number)
    except (tf.errors.OpError, OSError) as error:
        remove_partial_saves(manager.directory)
        raise JobFolderError(
            f"Cannot save a checkpoint in {manager.directory}: {tf_error_reason(error)}. The "
            "previous checkpoint is kept: free some disk space (or make the folder writable) "
            "and resume."
        ) from None
