"""``alexnet-studio weights status | import | download`` as a user runs them, in a fresh process."""

from __future__ import annotations

import hashlib

import pytest

from tests.cli import run_cli
from tests.local_server import LocalServer, closed_port
from tests.synthetic_weights import (
    bvlc_files,
    discard_installed_weights,  # noqa: F401 (autouse)
    write_hostile_npy,
)

pytestmark = pytest.mark.slow


def test_status_before_and_after_importing_the_npy(studio_home):
    before = run_cli("weights", "status")
    assert before.returncode == 1
    assert "not installed" in before.stdout
    assert "alexnet-studio weights download" in before.stdout

    path = bvlc_files()["npy"]
    imported = run_cli("weights", "import", path)
    assert imported.returncode == 0, imported.stderr[-2000:]
    assert "Installed ImageNet weights from bvlc_alexnet.npy" in imported.stdout

    after = run_cli("weights", "status")
    assert after.returncode == 0, after.stderr[-2000:]
    assert "installed" in after.stdout and "bvlc_alexnet.npy (npy)" in after.stdout
    assert hashlib.sha1(path.read_bytes()).hexdigest() in after.stdout
    assert str(studio_home / "weights" / "bvlc_alexnet.weights.h5") in after.stdout


def test_import_of_a_caffemodel():
    result = run_cli("weights", "import", bvlc_files()["caffemodel_v1"])
    assert result.returncode == 0, result.stderr[-2000:]
    assert "bvlc_alexnet.caffemodel (caffemodel" in result.stdout
    assert "bvlc_alexnet.caffemodel (caffemodel)" in run_cli("weights", "status").stdout


def test_hostile_file_gives_a_clear_error_and_installs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    path = write_hostile_npy(tmp_path / "bvlc_alexnet.npy", marker)
    result = run_cli("weights", "import", path)
    assert result.returncode == 1
    assert f"error: {path}: refused" in result.stderr
    assert "Traceback" not in result.stderr
    assert not marker.exists()
    assert run_cli("weights", "status").returncode == 1


def test_download_from_a_given_url_installs_with_a_progress_report():
    with LocalServer() as server:
        server.behaviour.files["/bvlc_alexnet.npy"] = bvlc_files()["npy"].read_bytes()
        url = server.url("/bvlc_alexnet.npy")
        result = run_cli("weights", "download", "--source", "npy", "--url", url)
    assert result.returncode == 0, result.stderr[-2000:]
    progress_lines = [line for line in result.stderr.splitlines() if line.endswith(" MB")]
    assert progress_lines[-1].startswith("100%")
    assert 5 <= len(progress_lines) <= 12  # about one line per 10% when not on a terminal
    status = run_cli("weights", "status").stdout
    assert "bvlc_alexnet.npy (npy)" in status and url in status


def test_download_error_is_one_clear_line():
    url = f"http://127.0.0.1:{closed_port()}/bvlc_alexnet.caffemodel"
    result = run_cli("weights", "download", "--url", url)
    assert result.returncode == 1
    assert url in result.stderr and "connection refused" in result.stderr
    assert "Traceback" not in result.stderr
