"""Checking the shape of JSON this project reads back, in depth, before any of it is used.

A spec is one of:

- a type or tuple of types (``str``, ``int``, ``float``, ``bool``, ``type(None)``); ``int``
  and ``float`` never accept a bool, ``float`` accepts an int, and a float must be finite;
- ``{"key": spec, ...}``: a dict holding at least those keys (others are allowed);
  ``Optional(spec)`` as a value makes the key optional;
- ``[spec]``: a list whose every item matches ``spec``;
- ``MapOf(spec)``: a dict with string keys whose every value matches ``spec``;
- ``OneOf("a", "b")``: one of those exact values;
- ``AnyJSON``: anything (already parsed, so it is bounded by the read cap).

``check(value, spec, path)`` raises ``DamagedFileError`` naming the file and the first
place that does not match.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from .errors import DamagedFileError


@dataclass(frozen=True)
class Optional:
    spec: object


@dataclass(frozen=True)
class MapOf:
    spec: object


class OneOf:
    def __init__(self, *choices):
        self.choices = choices


AnyJSON = object()


def _kind(value) -> str:
    return type(value).__name__


def _mismatch(value, spec, where: str) -> str | None:
    """The first place where ``value`` does not match ``spec``, or None."""
    if spec is AnyJSON:
        return None
    if isinstance(spec, OneOf):
        if any(value == c and type(value) is type(c) for c in spec.choices):
            return None
        return f"{where} is {value!r}, expected one of {list(spec.choices)}"
    if isinstance(spec, MapOf):
        if not isinstance(value, dict):
            return f"{where} is a {_kind(value)}, expected an object"
        for key, item in value.items():
            found = _mismatch(item, spec.spec, f"{where}[{key!r}]")
            if found:
                return found
        return None
    if isinstance(spec, dict):
        if not isinstance(value, dict):
            return f"{where} is a {_kind(value)}, expected an object"
        for key, item_spec in spec.items():
            if isinstance(item_spec, Optional):
                if key not in value:
                    continue
                item_spec = item_spec.spec
            elif key not in value:
                return f"{where} has no {key!r}"
            found = _mismatch(value[key], item_spec, f"{where}[{key!r}]")
            if found:
                return found
        return None
    if isinstance(spec, list):
        if not isinstance(value, list):
            return f"{where} is a {_kind(value)}, expected a list"
        for index, item in enumerate(value):
            found = _mismatch(item, spec[0], f"{where}[{index}]")
            if found:
                return found
        return None
    types = spec if isinstance(spec, tuple) else (spec,)
    if isinstance(value, bool) and bool not in types:
        return f"{where} is a bool, expected {' or '.join(t.__name__ for t in types)}"
    if float in types and isinstance(value, int) and not isinstance(value, bool):
        return None
    if not isinstance(value, types):
        return f"{where} is a {_kind(value)}, expected {' or '.join(t.__name__ for t in types)}"
    if isinstance(value, float) and not math.isfinite(value):
        return f"{where} is not a finite number"
    return None


def check(value, spec, path: str | Path):
    """Return ``value`` if it matches ``spec``; else raise ``DamagedFileError`` naming ``path``."""
    found = _mismatch(value, spec, "the file")
    if found:
        raise DamagedFileError(path, f"not as this version writes it: {found}")
    return value
