"""Temporaries left by killed processes: found by their name, removed by the next run.

``fileio.atomic_path`` and folder exports write under ``.NAME.tmp-PID...`` (and move a folder
being replaced to ``.NAME.old-PID``). A process killed with -9 cannot clean up: a SavedModel
export leaves up to 200 MB. The next run that writes into the same folder calls
``remove_stale_temporaries``, which removes those whose process is gone, or whose pid now
belongs to a process younger than the temporary.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from pathlib import Path

from .jobfolder import process_alive

# .NAME.tmp-PID..., .NAME.old-PID...: the names of fileio.temporary_name.
_TEMPORARY_NAME = re.compile(r"^\..+\.(?:tmp|old)-(?P<pid>\d+)(?:\D.*)?$", re.DOTALL)


def _process_started(pid: int) -> float | None:
    """When process ``pid`` started (seconds since the epoch), or None if unknown."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        boot = next(
            float(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime ")
        )
        return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError, StopIteration):
        return None


def _is_stale(pid: int, modified: float) -> bool:
    """Whether a temporary named with ``pid`` and last changed at ``modified`` is orphaned:
    its process is gone, or the pid now belongs to a process that started later."""
    if pid == os.getpid():
        return False
    if not process_alive(pid):
        return True
    started = _process_started(pid)
    return started is not None and started > modified + 1.0  # 1 s: /proc's tick rounding


def remove_stale_temporaries(folder: str | Path) -> list[Path]:
    """Remove the temporaries of this module's naming in ``folder`` whose process is gone.

    A process killed during an atomic write (an export's SavedModel of 200 MB, a model
    file) cannot clean up; the next run calls this on the folder it writes into. Returns
    what was removed; what cannot be removed is left (never raises).
    """
    removed = []
    with contextlib.suppress(OSError), os.scandir(folder) as entries:
        candidates = [entry for entry in entries if _TEMPORARY_NAME.match(entry.name)]
    for entry in candidates:
        try:
            info = entry.stat(follow_symlinks=False)
            pid = int(_TEMPORARY_NAME.match(entry.name).group("pid"))
            if not _is_stale(pid, info.st_mtime):
                continue
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
            removed.append(Path(entry.path))
        except (OSError, ValueError, OverflowError):
            continue
    return removed
