"""What the Explorer shows, as one immutable value.

A :class:`Selection` is read from the controls when an update starts and
handed to every tab; tabs compute from it alone, so a view is a function of
its selection and two equal selections show the same pictures.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Optional


@dataclass(frozen=True)
class Selection:
    """The state of the Explorer's controls.

    ``options`` are the current method's option values as a sorted tuple of
    ``(name, value)`` pairs (hashable, so a selection can be a cache key);
    ``target`` is a class index or -1 for the top predicted class; ``tab`` is
    the title of the visible tab; ``data_version`` changes whenever the
    Explorer's images or ranked dataset do (an upload), so views that rank
    them know when their results are stale. ``output_position`` is what an
    attribution explains on a model with a spatial output: None for a class
    channel averaged over every output position, ``(row, col)`` for one position.
    """

    layer: str
    channel: int = 0
    image: int = 0
    method: str = "gradient"
    options: tuple[tuple[str, Any], ...] = ()
    target: int = -1
    opacity: float = 0.5
    input_channel: int = 0
    single_channel: bool = False
    shared_scale: bool = True
    page: int = 0
    tab: str = "Activations"
    data_version: int = 0
    output_position: Optional[tuple[int, int]] = None  # spatial outputs: None = every position
    input: int = 0
    output: int = 0

    def __post_init__(self):
        object.__setattr__(self, "options", tuple(sorted((str(k), v) for k, v in dict(self.options).items())))

    @property
    def option_values(self) -> dict[str, Any]:
        """``options`` as a dict, ready for ``attribute(..., **options)``."""
        return dict(self.options)

    def replace(self, **changes) -> "Selection":
        """A copy with ``changes`` applied (``options`` may be given as a dict)."""
        return dataclasses.replace(self, **changes)


__all__ = ["Selection"]
