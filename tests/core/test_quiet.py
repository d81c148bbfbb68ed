"""TensorFlow's log settings are made in one place (``quiet.quiet_tensorflow``), by the entry
points: importing the library changes none of them. (The quiet terminal as a user sees it:
tests/e2e/test_speed_info.py.)"""

from __future__ import annotations

import os
import subprocess
import sys

from alexnet_tf.quiet import LEVEL_ENV, QUIET_LEVEL, VERBOSE_ENV, quiet_tensorflow
from tests.fresh_imports import ROOT

REPORT = "import os, sys; print(os.environ.get('TF_CPP_MIN_LOG_LEVEL'), sys.stderr.fileno())"


def fresh_python(code: str, **env) -> str:
    environ = {k: v for k, v in os.environ.items() if k not in (LEVEL_ENV, VERBOSE_ENV)}
    environ.update(env)
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=environ,
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.split()


def test_importing_the_training_loop_sets_no_log_level():
    # It used to set TF_CPP_MIN_LOG_LEVEL=2 when imported, which also stopped the terminal
    # from being quieted for any entry point that imported it first.
    assert fresh_python("import alexnet_tf.training.loop; " + REPORT)[0] == "None"


def test_the_entry_point_quiets_into_the_log_or_at_least_lowers_the_level(tmp_path):
    code = "from alexnet_tf.quiet import quiet_tensorflow as q; print(q()); " + REPORT
    path, level, stderr_fd = fresh_python(code, ALEXNET_STUDIO_HOME=str(tmp_path / "home"))
    assert path.endswith("tensorflow.log") and level == "None" and stderr_fd != "2"
    # A data folder that cannot hold the log (here: a file where the folder should be).
    (tmp_path / "file").write_text("")
    path, level, stderr_fd = fresh_python(code, ALEXNET_STUDIO_HOME=str(tmp_path / "file"))
    assert (path, level, stderr_fd) == ("None", QUIET_LEVEL, "2")
    # The user's own level, or --verbose: nothing changes.
    assert fresh_python(code, TF_CPP_MIN_LOG_LEVEL="0")[:2] == ["None", "0"]
    assert fresh_python(code, **{VERBOSE_ENV: "1"})[:2] == ["None", "None"]


def test_a_job_with_a_stderr_file_of_its_own_keeps_its_lines_there():
    child = {"PATH": "/usr/bin"}
    assert quiet_tensorflow(child) is None
    assert child[LEVEL_ENV] == QUIET_LEVEL
    users = {LEVEL_ENV: "0"}
    quiet_tensorflow(users)
    assert users[LEVEL_ENV] == "0"
