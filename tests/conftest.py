"""Shared test set-up: every test gets its own data folder; Qt runs offscreen."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# The path every test ran before paths were measured per machine: no test (nor the processes
# it starts) waits for, or starts, the background measurement. tests/*/test_speed* unset it.
os.environ.setdefault("ALEXNET_STUDIO_EXECUTION", "xla")
# Likewise no test (nor its processes) converts models for LiteRT in the background unless it
# is about that engine: those tests set ALEXNET_STUDIO_ENGINE=auto themselves.
os.environ.setdefault("ALEXNET_STUDIO_ENGINE", "tensorflow")

import shutil  # noqa: E402

import pytest  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def module_folders(tmp_path_factory):
    """Remove the folders each test module made when it ends. Job folders hold checkpoints of
    0.2-0.7 GB: kept until the session's end, a run of the suite filled 30 GB of disk."""
    base = tmp_path_factory.getbasetemp()
    before = set(base.iterdir())
    yield
    for folder in set(base.iterdir()) - before:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(autouse=True)
def studio_home(tmp_path_factory, monkeypatch):
    """A fresh ALEXNET_STUDIO_HOME per test, so no test sees the user's data or another test's;
    removed after the test (it may hold weights, flatbuffers and jobs)."""
    home = tmp_path_factory.mktemp("studio_home")
    monkeypatch.setenv("ALEXNET_STUDIO_HOME", str(home))
    yield home
    shutil.rmtree(home, ignore_errors=True)
