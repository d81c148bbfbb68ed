"""Every output a user names is checked before the work: a clear line, exit status 2.

`evaluate --csv` into a read-only folder once ran the whole evaluation (half an hour on
ImageNet's validation set) and then printed a traceback. Permissions are in force even for
root: the commands run with the capabilities that bypass them dropped (`setpriv`).
"""

from __future__ import annotations

import os
import subprocess

import pytest
from PIL import Image

from tests import bad_inputs
from tests.cli import CLI, ROOT
from tests.model_fixtures import make_job

LABELS = ["blobs", "stripes", "checkers"]


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    return make_job(tmp_path_factory.mktemp("job") / "job", LABELS)


def run_unprivileged(*args) -> subprocess.CompletedProcess:
    command = bad_inputs.unprivileged([*CLI, *map(str, args)])
    if command is None:
        pytest.skip("root cannot drop its permission bypass here (no setpriv)")
    return subprocess.run(
        command, cwd=ROOT, env=os.environ.copy(), capture_output=True, text=True, timeout=300
    )


def assert_refused(result: subprocess.CompletedProcess, path, reason: str) -> None:
    """Exit status 2, one line naming ``path`` and ``reason``, nothing else done."""
    assert result.returncode == 2, (result.stdout, result.stderr[-2000:])
    lines = result.stderr.strip().splitlines()
    assert lines == [lines[-1]] and lines[0].startswith(f"error: {path}: "), result.stderr
    assert reason in lines[0], lines[0]
    assert "Traceback" not in result.stderr
    assert result.stdout == ""  # no report, no model loaded, nothing classified


def test_outputs_are_checked_before_the_work_with_a_clear_error(job, tmp_path, studio_home):
    val = tmp_path / "val"
    for index, name in enumerate(LABELS):
        (val / name).mkdir(parents=True)
        Image.new("RGB", (40, 30), (80 * index, 90, 200)).save(val / name / "a.jpg")
    read_only = tmp_path / "read_only"
    read_only.mkdir()
    read_only.chmod(0o555)
    existing = tmp_path / "a_folder"
    existing.mkdir()
    photo = val / LABELS[0] / "a.jpg"
    try:
        cases = [
            (("evaluate", val, "--model", job, "--csv", read_only / "out.csv"),
             read_only / "out.csv", "permission denied"),
            (("evaluate", val, "--model", job, "--csv", existing),
             existing, "is a folder; give the name of a file"),
            (("classify", photo, "--model", job, "--csv", existing),
             existing, "is a folder; give the name of a file"),
            (("export", job, "--format", "keras", "--out", read_only / "m.keras"),
             read_only / "m.keras", "permission denied"),
            (("export", job, "--format", "savedmodel", "--out", read_only / "sub" / "served"),
             read_only / "sub" / "served", f"(in {read_only}): permission denied"),
            (("features", photo, "--layer", "conv1", "--model", job, "--out",
              read_only / "maps.png"), read_only / "maps.png", "permission denied"),
            (("train", val, "--out", read_only / "job"), read_only / "job",
             "permission denied"),
        ]  # fmt: skip
        for args, path, reason in cases:
            assert_refused(run_unprivileged(*args), path, reason)
        assert list(read_only.iterdir()) == []

        # info --measure with a read-only data folder: refused before the minute of measuring.
        studio_home.chmod(0o555)
        result = run_unprivileged("info", "--measure")
        assert result.returncode == 2, result.stderr[-2000:]
        assert f"error: {studio_home}: cannot write here: permission denied" in result.stderr
        assert "Traceback" not in result.stderr and "Measuring" not in result.stderr
    finally:
        read_only.chmod(0o755)
        studio_home.chmod(0o755)
