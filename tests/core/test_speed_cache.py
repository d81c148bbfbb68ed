"""A damaged speed cache (``speed.json``) is read at the cost of a normal one, counts as not
measured, and is rewritten by the next measurement; nothing that reads it may crash.

The commands themselves with these files: tests/e2e/test_damaged_speed_cache.py.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import sys
import tracemalloc

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alexnet_tf import speed
from alexnet_tf.cli.info import _measurement_lines
from alexnet_tf.machine import describe_machine
from tests.core.test_speed import EPYC_AVX2, XEON_AMX, entry_for
from tests.speed_cache_cases import DAMAGED_CACHES, huge_file

MACHINE = describe_machine()


@pytest.fixture(autouse=True)
def measured_automatically(monkeypatch):
    """As a user runs: no path forced (the test suite forces XLA by default)."""
    monkeypatch.delenv(speed.FORCE_ENV, raising=False)


def assert_not_measured() -> None:
    """Every reader of the cache says "not measured" and uses the default path."""
    entry = speed.read_measurement(MACHINE)
    assert entry is None
    assert speed.inference_path(1, entry) == speed.inference_path(8) == speed.DEFAULT_PATH
    assert speed.train_path("bf16") == speed.DEFAULT_PATH
    assert "Not measured" in speed.precision_advice(entry)
    assert speed.recommended_precision(entry) == "fp32"
    assert "not measured on this machine yet" in "\n".join(_measurement_lines(entry))


@pytest.mark.parametrize("damage", DAMAGED_CACHES, ids=lambda damage: damage.__name__)
def test_a_damaged_cache_is_not_measured_and_the_next_measurement_rewrites_it(damage):
    damage(speed.cache_path(), MACHINE)
    assert_not_measured()
    speed.save_measurement(entry_for(MACHINE, XEON_AMX))
    assert speed.read_measurement(MACHINE)["choice"]["single"] == "graph"
    assert speed.cache_path().stat().st_size < speed.MAX_CACHE_BYTES


_OPENED: list[str] | None = None  # while set, the audit hook records the files opened


def _record_opens(event: str, args) -> None:
    if _OPENED is not None and event == "open" and isinstance(args[0], (str, os.PathLike)):
        _OPENED.append(os.fspath(args[0]))


def test_the_help_of_every_command_opens_no_file_of_the_data_folder(studio_home):
    """``--help`` must not depend on any cache (a damaged speed.json once broke every
    command, --help included); Python's audit hook sees every file opened."""
    global _OPENED
    from alexnet_tf import cli

    sys.addaudithook(_record_opens)  # stays for the process; records only while a list is set
    _OPENED = []
    try:
        parser = cli.build_parser()
        texts = [parser.format_help()]
        commands = parser._subparsers._group_actions[0].choices  # noqa: SLF001
        texts += [command.format_help() for command in commands.values()]
        opened, _OPENED = _OPENED, None
    finally:
        _OPENED = None
    assert len(texts) > 5
    assert [path for path in opened if path.startswith(str(studio_home))] == []


def test_a_huge_cache_costs_what_a_normal_one_does():
    huge_file(speed.cache_path(), MACHINE)
    tracemalloc.start()
    try:
        assert speed.read_measurement(MACHINE) is None
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Reading it whole took 800 MB (its bytes and their text); only the cap is read now.
    assert peak < 4 * speed.MAX_CACHE_BYTES, f"reading the cache allocated {peak} bytes"


def test_another_machines_damaged_entry_costs_this_machine_nothing():
    other = dataclasses.replace(MACHINE, tensorflow="0.0.1")
    damaged = entry_for(other, EPYC_AVX2)
    damaged["training"] = [1, 2]
    cache = {"entries": {speed.key_id(other.key()): damaged,
                         speed.key_id(MACHINE.key()): entry_for(MACHINE, XEON_AMX)}}  # fmt: skip
    speed.cache_path().write_text(json.dumps(cache))
    assert speed.read_measurement(MACHINE)["choice"]["single"] == "graph"
    assert speed.read_measurement(other) is None
    speed.save_measurement(entry_for(MACHINE, EPYC_AVX2))  # the damaged entry is dropped
    kept = json.loads(speed.cache_path().read_text())["entries"]
    assert list(kept) == [speed.key_id(MACHINE.key())]


@pytest.mark.parametrize("where", ["choice", "huge", "negative", "seconds"])
def test_an_entry_whose_figures_cannot_be_used_is_not_measured(where):
    entry = copy.deepcopy(entry_for(MACHINE, XEON_AMX))
    if where == "choice":
        del entry["choice"]["train"]["bf16"]  # `info` lists each measured precision's choice
    elif where == "huge":
        entry["training"]["bf16"]["graph"] = 10**400  # valid JSON, beyond a float
    elif where == "negative":
        entry["inference"]["single_ms"]["xla"] = -1.0
    else:
        entry["seconds"] = 10**400
    speed.cache_path().write_text(json.dumps({"entries": {speed.key_id(MACHINE.key()): entry}}))
    assert_not_measured()


# -- random JSON of every type and depth -----------------------------------------------------
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8) | st.sampled_from(["xla", "graph", "fp32", "bf16", "fp16"])
    | st.sampled_from([10**400, -1.5, 0]),  # beyond a float, negative, nothing
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=30,
)  # fmt: skip
FUZZ = settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _places(value, where=()):
    """Every path to a value inside ``value`` (dict keys and list indexes)."""
    yield where
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _places(item, (*where, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _places(item, (*where, index))


def _replaced(entry: dict, where: tuple, value) -> dict:
    entry = copy.deepcopy(entry)
    holder = entry
    for step in where[:-1]:
        holder = holder[step]
    holder[where[-1]] = value
    return entry


def read_everything() -> None:
    """What the commands and the app read from the cache; none of it may raise."""
    entry = speed.read_measurement(MACHINE)
    speed.inference_path(1, entry), speed.inference_path(8, entry)
    for precision in speed.PRECISIONS:
        assert speed.train_path(precision, entry) in speed.PATHS
    speed.precision_advice(entry), speed.recommended_precision(entry)
    _measurement_lines(entry)


@FUZZ
@given(JSON_VALUES)
def test_any_json_as_the_cache_never_breaks_a_reader(value):
    speed.cache_path().write_text(json.dumps(value))
    read_everything()
    speed.cache_path().write_text(json.dumps({"entries": {speed.key_id(MACHINE.key()): value}}))
    read_everything()
    assert speed.read_measurement(MACHINE) is None


VALID = entry_for(MACHINE, XEON_AMX)
PLACES = [where for where in _places(VALID) if where]


@FUZZ
@given(st.sampled_from(PLACES), JSON_VALUES)
def test_any_json_anywhere_in_this_machines_entry_never_breaks_a_reader(where, value):
    entry = _replaced(VALID, where, value)
    speed.cache_path().write_text(json.dumps({"entries": {speed.key_id(MACHINE.key()): entry}}))
    read_everything()


@settings(FUZZ, max_examples=20)
@given(st.integers(1, 3000))
def test_nesting_of_any_depth_is_refused_not_a_crash(depth):
    speed.cache_path().write_text('{"entries": {"x": ' + "[" * depth + "]" * depth + "}}")
    read_everything()
