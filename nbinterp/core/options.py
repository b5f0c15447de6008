"""Declarative options: each option of a method is one object.

An :class:`Option` owns its name, default, bounds, validation (with the
message the user sees) and the hint a user interface needs to build a
control for it (``ui``: ``"int"``, ``"float"``, ``"bool"``, ``"choice"``, or
None for options a UI leaves at their default, such as baseline arrays).
Methods declare a tuple of options; :func:`resolve` checks what a caller
passed against that table. Option values are host values: they never enter
a compiled function's signature, so a new value never causes a trace.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InvalidInputError


def whole_number(value) -> int | None:
    """``value`` as an int if it is a whole number (``3``, ``np.int64(3)``, ``3.0``), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)) and math.isfinite(value) and float(value).is_integer():
        return int(value)
    return None


def is_real(value) -> bool:
    """A plain number (not a bool)."""
    return not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating))


@dataclass(frozen=True)
class Option:
    """One option: ``check(value)`` returns the normalised value or raises InvalidInputError."""

    name: str
    default: Any
    label: str = ""
    help: str = ""
    ui: str | None = None
    low: float | None = None
    high: float | None = None
    step: float | None = None
    choices: tuple | None = None

    def check(self, value):
        return value

    @property
    def text(self) -> str:
        """The label a person reads (the name, spelled out, when no label is given)."""
        return self.label or self.name.replace("_", " ")


@dataclass(frozen=True)
class IntOption(Option):
    """A whole number in ``[low, high]`` (whole-number floats from UI fields are accepted)."""

    low: int = 1
    ui: str | None = "int"

    def check(self, value):
        number = whole_number(value)
        if number is None or number < self.low or (self.high is not None and number > self.high):
            bound = f">= {self.low}" if self.high is None else f"between {self.low} and {self.high}"
            raise InvalidInputError(f"{self.name} must be an integer {bound}, got {value!r}")
        return number


@dataclass(frozen=True)
class FloatOption(Option):
    """A finite real number in ``[low, high]`` (either bound may be None)."""

    ui: str | None = "float"

    def check(self, value):
        if not is_real(value):
            raise InvalidInputError(f"{self.name} must be a number, got {value!r}")
        number = float(value)
        if not math.isfinite(number) or (self.low is not None and number < self.low) or (
            self.high is not None and number > self.high
        ):
            if self.low is not None and self.high is not None:
                bounds = f" between {self.low} and {self.high}"
            elif self.low is not None:
                bounds = f" >= {self.low}"
            elif self.high is not None:
                bounds = f" <= {self.high}"
            else:
                bounds = ""
            raise InvalidInputError(f"{self.name} must be a finite number{bounds}, got {value!r}")
        return number


@dataclass(frozen=True)
class SeedOption(Option):
    """A random seed: any integer, folded into ``[0, 2**31 - 1)``."""

    ui: str | None = "int"
    low: int = 0

    def check(self, value):
        seed = whole_number(value)
        if seed is None:
            raise InvalidInputError(f"{self.name} must be an integer, got {value!r}")
        return seed % (2**31 - 1)


@dataclass(frozen=True)
class BoolOption(Option):
    """True or False."""

    ui: str | None = "bool"

    def check(self, value):
        if isinstance(value, (bool, np.bool_)):
            return bool(value)
        raise InvalidInputError(f"{self.name} must be True or False, got {value!r}")


@dataclass(frozen=True)
class ChoiceOption(Option):
    """One of ``choices``."""

    ui: str | None = "choice"

    def check(self, value):
        if value not in (self.choices or ()):
            valid = ", ".join(repr(c) for c in self.choices or ())
            raise InvalidInputError(f"{self.name} must be one of {valid}, got {value!r}")
        return value


@dataclass(frozen=True)
class ArrayOption(Option):
    """A finite number or numeric array (e.g. a baseline); shape is checked by the method."""

    def check(self, value):
        array = np.asarray(value)
        if array.dtype == object or array.dtype.kind not in "biuf":
            raise InvalidInputError(f"{self.name} must be a number or a numeric array, got {value!r}")
        if not np.isfinite(array).all():
            raise InvalidInputError(f"{self.name} contains NaN or infinite values")
        return array.astype(np.float32)


@dataclass(frozen=True)
class SizeOption(Option):
    """None (a default chosen from the input) or positive integers, one per axis or one for all."""

    def check(self, value):
        if value is None:
            return None
        values = [whole_number(v) for v in np.atleast_1d(np.asarray(value, dtype=object)).tolist()]
        if not values or any(v is None or v < 1 for v in values):
            raise InvalidInputError(f"{self.name} must be a positive integer or one per axis, got {value!r}")
        return tuple(values)


@dataclass(frozen=True)
class UnitIntervalListOption(Option):
    """A number in [0, 1] or a non-empty list of them."""

    def check(self, value):
        values = np.atleast_1d(np.asarray(value, dtype=object))
        if values.ndim != 1 or len(values) == 0:
            raise InvalidInputError(f"{self.name} must be a number or a non-empty list of numbers, got {value!r}")
        out = []
        for item in values.tolist():
            if not is_real(item):
                raise InvalidInputError(f"{self.name} values must be numbers in [0, 1], got {item!r}")
            if not 0.0 <= float(item) <= 1.0:
                raise InvalidInputError(f"{self.name} values must be in [0, 1], got {item!r}")
            out.append(float(item))
        return np.asarray(out, np.float32)


def defaults(table) -> dict:
    """``{name: default}`` of an option table."""
    return {option.name: option.default for option in table}


def resolve(table, given: dict, owner: str) -> dict:
    """Every option of ``table``, checked: ``given`` values over the defaults.

    Unknown names are refused with the list of valid ones (``owner`` names
    the method in the message).
    """
    by_name = {option.name: option for option in table}
    unknown = sorted(set(given) - set(by_name))
    if unknown:
        valid = ", ".join(sorted(by_name)) or "none"
        raise InvalidInputError(
            f"unknown option{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))} "
            f"for {owner}; its options are: {valid}"
        )
    return {name: option.check(given.get(name, option.default)) for name, option in by_name.items()}
