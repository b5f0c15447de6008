"""nbinterp: look inside a Keras convolutional network from a notebook cell.

Public names are imported lazily, so ``import nbinterp`` stays cheap and the
backend never pulls in ipywidgets.
"""

from importlib import import_module

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    # backend
    "Inspector": "nbinterp.core.inspector",
    "LayerInfo": "nbinterp.core.inspector",
    # attribution
    "attribute": "nbinterp.attribution",
    # feature visualisation and unit views
    "maximize": "nbinterp.units.maximize",
    "top_activations": "nbinterp.units.top_activations",
    "reconstruct": "nbinterp.units.reconstruct",
    # weights through training
    "WeightHistory": "nbinterp.weights",
    "SnapshotCallback": "nbinterp.weights",
    "compare_weights": "nbinterp.weights",
    # widgets
    "Explorer": "nbinterp.widgets.explorer",
}

_SUBMODULES = {"demo", "errors", "render", "attribution", "widgets", "weights", "units", "metrics"}

__all__ = sorted(_EXPORTS) + sorted(_SUBMODULES)


#: modules that do not import TensorFlow
_NO_TENSORFLOW = {"errors", "render"}


def __getattr__(name):
    if name in _EXPORTS or name in _SUBMODULES - _NO_TENSORFLOW:
        from ._tf_start import start

        start()  # TensorFlow's start-up notices kept out of notebook cells
    if name in _EXPORTS:
        value = getattr(import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        module = import_module(f"nbinterp.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'nbinterp' has no attribute {name!r}")


def __dir__():
    return __all__
