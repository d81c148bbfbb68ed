"""Shared test set-up: every test gets its own data folder; Qt runs offscreen."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def studio_home(tmp_path_factory, monkeypatch):
    """A fresh ALEXNET_STUDIO_HOME per test, so no test sees the user's data or another test's."""
    home = tmp_path_factory.mktemp("studio_home")
    monkeypatch.setenv("ALEXNET_STUDIO_HOME", str(home))
    return home
