"""Damaged ``speed.json`` files, as issue 19 found them: each must count as "not measured"."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from alexnet_tf import speed
from tests.core.test_speed import XEON_AMX, entry_for

HUGE_BYTES = 400_000_000


def _with_entry(path: Path, machine, damage) -> None:
    entry = copy.deepcopy(entry_for(machine, XEON_AMX))  # the figures are shared
    damage(entry)
    path.write_text(json.dumps({"entries": {speed.key_id(machine.key()): entry}}))


def deep_nesting(path: Path, machine) -> None:
    depth = 200_000  # 400 KB of brackets
    path.write_text('{"entries": ' + "[" * depth + "]" * depth + "}")


def training_is_a_list(path: Path, machine) -> None:
    _with_entry(path, machine, lambda entry: entry.update(training=[1, 2]))


def chosen_training_path_is_a_word(path: Path, machine) -> None:
    _with_entry(path, machine, lambda entry: entry["choice"].update(train="x"))


def single_image_time_is_a_word(path: Path, machine) -> None:
    _with_entry(path, machine, lambda entry: entry["inference"].update(single_ms="fast"))


def huge_file(path: Path, machine) -> None:
    """400 MB (sparse: it costs no disk), which a reader that reads it whole pays for."""
    with open(path, "wb") as file:
        file.truncate(HUGE_BYTES)


DAMAGED_CACHES = (
    deep_nesting, training_is_a_list, chosen_training_path_is_a_word,
    single_image_time_is_a_word, huge_file,
)  # fmt: skip
