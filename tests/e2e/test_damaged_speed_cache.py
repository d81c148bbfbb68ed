"""Commands as a user runs them, with a damaged ``speed.json`` in a fresh data folder (issue
19, row 1): none crashes, ``--help`` does not read it at all, ``info`` says "not measured",
and ``classify`` answers on the default path. (Timings are never asserted: the cost of a
huge file is checked by memory in tests/core/test_speed_cache.py.)"""

from __future__ import annotations

import json
import os

import pytest
from PIL import Image

from alexnet_tf import speed
from alexnet_tf.machine import describe_machine
from tests.cli import run_cli
from tests.model_fixtures import install_random_weights
from tests.speed_cache_cases import (
    DAMAGED_CACHES,
    deep_nesting,
    single_image_time_is_a_word,
    training_is_a_list,
)


def as_a_user(studio_home) -> dict:
    """Nothing forced (the cache is read as on a user's machine), and a measurement marked as
    running in this process, so no command starts one in the background."""
    (studio_home / speed.LOCK_FILE).write_text(str(os.getpid()))
    return {key: value for key, value in os.environ.items() if key != speed.FORCE_ENV}


def no_traceback(result) -> None:
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]


@pytest.mark.parametrize("damage", DAMAGED_CACHES, ids=lambda damage: damage.__name__)
def test_help_with_a_damaged_cache(damage, studio_home):
    damage(speed.cache_path(), describe_machine())
    env = as_a_user(studio_home)
    for command in (["--help"], ["train", "--help"], ["info", "--help"]):
        no_traceback(run_cli(*command, env=env))


@pytest.mark.slow
@pytest.mark.parametrize(
    # Each broke `info` its own way (reading, the advice, the figures); every case goes
    # through the same lines in-process in tests/core/test_speed_cache.py, without TensorFlow.
    "damage", (deep_nesting, training_is_a_list, single_image_time_is_a_word),
    ids=lambda damage: damage.__name__,
)  # fmt: skip
def test_info_with_a_damaged_cache_says_not_measured(damage, studio_home):
    damage(speed.cache_path(), describe_machine())
    info = run_cli("info", env=as_a_user(studio_home))
    no_traceback(info)
    assert "not measured on this machine yet: XLA is used until it is" in info.stdout


@pytest.mark.slow
def test_classify_with_a_damaged_cache_answers(studio_home, tmp_path):
    install_random_weights()
    photo = tmp_path / "photo.png"
    Image.radial_gradient("L").convert("RGB").resize((300, 200)).save(photo)
    # The case that broke every command; the others are read by the same reader
    # (tests/core/test_speed_cache.py), so one model run is enough.
    deep_nesting(speed.cache_path(), describe_machine())
    result = run_cli("classify", photo, "--json", env=as_a_user(studio_home))
    no_traceback(result)
    assert len(json.loads(result.stdout)["predictions"]) == 5
