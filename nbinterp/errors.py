"""Typed exceptions. Every error nbinterp raises on purpose is a NbinterpError,
and also an instance of the matching builtin (ValueError, IndexError, ...),
so ``except ValueError`` keeps working for callers who do not know us."""

import difflib


class NbinterpError(Exception):
    """Base class of every error nbinterp raises deliberately."""


class UnknownLayerError(NbinterpError, KeyError):
    """A layer name that is not in the model."""

    def __init__(self, name, known):
        self.name = name
        known = list(known)
        self.suggestions = _close_matches(str(name), known)
        message = f"no layer named {name!r} in this model"
        if self.suggestions:
            message += "; did you mean " + " or ".join(repr(s) for s in self.suggestions) + "?"
        else:
            shown = ", ".join(list(known)[:12])
            message += f"; layers are: {shown}" + (", ..." if len(known) > 12 else "")
        super().__init__(message)

    def __str__(self):  # KeyError would quote the message otherwise
        return self.args[0]


class NoKernelError(NbinterpError, ValueError):
    """Kernels or a kernel response asked of a layer that has no kernel."""


class IndexOutOfRangeError(NbinterpError, IndexError):
    """A kernel, channel, class or image index outside its valid range."""


class InputShapeError(NbinterpError, ValueError):
    """Images whose shape does not match the model input."""


class InvalidInputError(NbinterpError, ValueError):
    """Inputs that cannot be used: NaN/Inf values, an empty batch, a wrong dtype."""


class NotSupportedError(NbinterpError, NotImplementedError):
    """A model or option nbinterp does not support (yet)."""


class MethodNotApplicableError(NbinterpError, ValueError):
    """An attribution or view that does not apply to this model or layer,
    e.g. CAM on a model without global average pooling before the output."""


class UnknownMethodError(NbinterpError, ValueError):
    """An attribution method name that nbinterp does not know."""


class ArchitectureMismatchError(NbinterpError, ValueError):
    """Two models (or a model and a checkpoint) whose architectures differ."""


class CancelledError(NbinterpError):
    """A long computation stopped because a newer request superseded it."""


def _close_matches(name, known):
    """Close matches on full paths and on their last part ('block1_conv' -> 'vgg16/block1_conv1')."""
    found = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    by_leaf = {}
    for path in known:
        by_leaf.setdefault(path.rsplit("/", 1)[-1], path)
    leaf = name.rsplit("/", 1)[-1]
    for match in difflib.get_close_matches(leaf, list(by_leaf), n=3, cutoff=0.5):
        if by_leaf[match] not in found:
            found.append(by_leaf[match])
    return found[:3]


def check_index(value, size, what):
    """Return ``value`` as an int in ``range(size)`` or raise IndexOutOfRangeError."""
    import numbers

    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise IndexOutOfRangeError(f"{what} must be an integer, got {value!r}")
    try:
        index = int(value)
    except (TypeError, ValueError, OverflowError):
        raise IndexOutOfRangeError(f"{what} must be an integer, got {value!r}") from None
    if float(value) != index:
        raise IndexOutOfRangeError(f"{what} must be an integer, got {value!r}")
    if not 0 <= index < size:
        raise IndexOutOfRangeError(f"{what} {index} is out of range: valid values are 0 to {size - 1}")
    return index
