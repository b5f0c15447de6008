"""What a unit wants: feature visualisation and dataset-level neuron views.

* :func:`nbinterp.maximize` (module :mod:`nbinterp.units.maximize`): synthesise
  an input that maximises a class logit, a channel, one unit or a whole layer
  (class model visualisation, DeepDream), with the objectives of
  :mod:`nbinterp.units.objectives`: :class:`Class`, :class:`Channel`,
  :class:`Neuron`, :class:`DeepDream`, and weighted sums of them
  (``Channel("conv3", 5) + 0.5 * Class(3)``).
* :func:`nbinterp.top_activations` (module :mod:`nbinterp.units.top_activations`):
  the examples of a dataset that excite a channel the most, with the
  receptive-field crops of the strongest positions.
* :func:`nbinterp.reconstruct` (module :mod:`nbinterp.units.reconstruct`):
  project one unit's activation back to the input (deconvnet, guided
  backprop, plain gradient).
* ``nbinterp.units.receptive_field.receptive_field``: the input box a unit sees.

The submodules keep the names of the functions they define, so
``nbinterp.units.maximize`` is the module (with ``maximize.maximize``, and
the objectives re-exported as ``maximize.Class``, ...); the functions themselves are ``nbinterp.maximize``,
``nbinterp.top_activations`` and ``nbinterp.reconstruct``.

Long computations share one protocol, meant for running them on a worker
thread behind a widget:

* ``progress=True`` shows a progress bar (an ipywidgets bar in a notebook
  kernel, else one line on stderr), through :func:`nbinterp.display.progress`,
  so nothing here imports ipywidgets unless a bar is shown in a notebook;
* ``callback`` is called on the calling thread after every unit of work:
  ``callback(step, value)`` after each ascent step of ``maximize`` (``step``
  from 0, ``value`` the objective), ``callback(seen, total)`` after each batch
  of ``top_activations`` (examples scanned so far; ``total`` is None when the
  length of the data is unknown);
* ``cancel`` (a ``threading.Event`` or a callable returning True) is checked
  before every step or batch; once set, the work stops there and raises
  :class:`nbinterp.errors.CancelledError` whose ``.partial`` attribute holds the
  result so far (a ``MaximizeResult`` with ``cancelled=True``, a
  ``TopActivations`` with ``complete=False``).

Compiled functions are cached per model (weakly, so they go with it) and take
the class, channel and position as tensors, so switching between classes or
channels of one layer does not retrace.
"""

from importlib import import_module

_NAMES = {
    "Objective": "objectives",
    "Class": "objectives",
    "Channel": "objectives",
    "Neuron": "objectives",
    "DeepDream": "objectives",
    "Sum": "objectives",
    "MaximizeResult": "maximize",
    "MAXIMIZE_OPTIONS": "maximize",
    "TopActivations": "top_activations",
    "ReceptiveField": "receptive_field",
    "empirical_receptive_field": "receptive_field",
    "strongest_position": "reconstruct",
}
_MODULES = {"maximize", "objectives", "top_activations", "reconstruct", "receptive_field"}

__all__ = sorted(_NAMES) + sorted(_MODULES)


def __getattr__(name):
    if name in _MODULES:
        return import_module(f"{__name__}.{name}")
    if name in _NAMES:
        value = getattr(import_module(f"{__name__}.{_NAMES[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return __all__
