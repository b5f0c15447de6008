"""Declarative options: one object per setting of a method, with its label and its check.

``Option.check(value)`` returns the normalised value or raises
:class:`~nbinterp.errors.InvalidInputError`; ``low`` and ``high`` are
inclusive bounds (None: unbounded).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InvalidInputError

__all__ = ["Option", "IntOption", "FloatOption", "SeedOption"]


@dataclass(frozen=True)
class Option:
    """One setting: its name (the keyword argument), default, the label a person reads and help text."""

    name: str
    default: Any
    label: str
    help: str = ""
    ui: str | None = None
    low: float | None = None
    high: float | None = None
    step: float | None = None
    choices: tuple | None = None

    def check(self, value):
        """``value``, refused unless it is one of ``choices`` (when there are choices)."""
        if self.choices is not None and value not in self.choices:
            raise InvalidInputError(f"{self.name} must be one of {', '.join(map(repr, self.choices))}, got {value!r}")
        return value

    def _check_bounds(self, number, value):
        if (self.low is not None and number < self.low) or (self.high is not None and number > self.high):
            low = "-inf" if self.low is None else self.low
            high = "inf" if self.high is None else self.high
            raise InvalidInputError(f"{self.name} must be between {low} and {high}, got {value!r}")
        return number


def _whole(value, name):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InvalidInputError(f"{name} must be an integer, got {value!r}")
    if not math.isfinite(value) or value != int(value):
        raise InvalidInputError(f"{name} must be an integer, got {value!r}")
    return int(value)


@dataclass(frozen=True)
class IntOption(Option):
    """A whole number within the bounds (whole floats such as ``3.0`` are accepted)."""

    def check(self, value) -> int:
        return self._check_bounds(_whole(value, self.name), value)


@dataclass(frozen=True)
class FloatOption(Option):
    """A finite number within the bounds."""

    def check(self, value) -> float:
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise InvalidInputError(f"{self.name} must be a number, got {value!r}")
        number = float(value)
        if not math.isfinite(number):
            raise InvalidInputError(f"{self.name} must be a finite number, got {value!r}")
        return self._check_bounds(number, value)


@dataclass(frozen=True)
class SeedOption(Option):
    """A random seed: a whole number >= 0."""

    def check(self, value) -> int:
        seed = _whole(value, self.name)
        if seed < 0:
            raise InvalidInputError(f"{self.name} must be >= 0, got {value!r}")
        return seed
