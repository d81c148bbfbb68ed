"""Fixtures shared by the end-to-end training tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """A data folder (ALEXNET_STUDIO_HOME for the job processes) with synthetic, well-scaled
    "ImageNet" weights installed: real weights are never downloaded in tests."""
    from tests.synthetic_weights import link_synthetic_imagenet_weights

    home = tmp_path_factory.mktemp("home")
    link_synthetic_imagenet_weights(home)  # the same files, built once per test run
    return home
