"""Locate the front-end (ESM) files that the widgets load.

In an installed wheel they live in ``nbinterp/_js/`` (pyproject force-includes
the repository's ``js/`` folder there); in a source checkout or an editable
install they are read straight from ``<repo>/js/``.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def js_candidates(name: str) -> list[Path]:
    """Where :func:`js_path` looks for ``name``, in order."""
    return [_PACKAGE_DIR / "_js" / name, _PACKAGE_DIR.parent / "js" / name]


def js_path(name: str) -> Path:
    """Path of the front-end file ``name`` (e.g. ``"canvas.js"``)."""
    candidates = js_candidates(name)
    for path in candidates:
        if path.is_file():
            return path
    looked = ", ".join(str(p) for p in candidates)
    raise FileNotFoundError(
        f"nbinterp front-end file {name!r} not found (looked in: {looked}). "
        "The installation looks incomplete: reinstall nbinterp with pip."
    )
