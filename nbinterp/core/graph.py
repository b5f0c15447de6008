"""A Keras model's computation graph, flattened across nested models.

Every layer gets a *path*: top-level layers keep their name, layers of a
nested model are ``"outer/inner"`` (``"vgg16/block1_conv1"``). The plan runs on
real tensors (inside a ``tf.function``), computes only what the requested
outputs need, and never calls a layer symbolically, so the user's model gains
no new nodes and no "Graph disconnected" error can arise from nesting.

Two hooks serve the views and attributions that need more than outputs:

* ``pre_activation`` keys: a layer's value before its ``activation`` (the
  logit of a softmax Dense layer, the pre-ReLU response of a Conv2D layer).
* ``activation_override``: replace a layer's activation function during a run
  (guided backprop and deconvnet swap the ReLU gradient this way).

Both work by calling the layer with its activation set to linear for the
duration of a trace, under a lock; the model is restored before the call
returns, so the user's model is never visibly modified.
"""

from __future__ import annotations

import contextlib
import math
import re
import threading
import weakref
from dataclasses import dataclass, field

import keras
from keras import tree

from ..errors import NotSupportedError, UnknownLayerError

_ACTIVATION_LOCK = threading.RLock()
_LINEAR_NAMES = {"linear", None}
# layers whose whole job is an activation function
ACTIVATION_LAYERS = tuple(
    cls
    for cls in (
        getattr(keras.layers, "Activation", None),
        getattr(keras.layers, "ReLU", None),
        getattr(keras.layers, "LeakyReLU", None),
        getattr(keras.layers, "ELU", None),
        getattr(keras.layers, "PReLU", None),
        getattr(keras.layers, "Softmax", None),
    )
    if cls is not None
)


_SCOPE_NAME = re.compile(r"^[A-Za-z0-9.][A-Za-z0-9_.\\/>-]*$")


def _valid_scope_name(name):
    return bool(_SCOPE_NAME.match(name or ""))


def _direct_call(op):
    """Call a layer whose name TensorFlow rejects as a name scope (e.g. one with
    spaces or markup) through its ``call`` method, so user-chosen names never
    break tracing."""

    def call(*args, **kwargs):
        if not getattr(op, "_call_has_training_arg", False):
            kwargs.pop("training", None)
        return op.call(*args, **kwargs)

    return call


def activation_name(op) -> str | None:
    """Name of the activation a layer applies at its end ('relu', 'softmax', ...), or None."""
    if isinstance(op, keras.layers.ReLU):
        return "relu"
    if isinstance(op, keras.layers.LeakyReLU):
        return "leaky_relu"
    if isinstance(op, keras.layers.Softmax):
        return "softmax"
    act = getattr(op, "activation", None)
    if act is None or not callable(act):
        return None
    name = getattr(act, "__name__", None)
    if name is None and hasattr(act, "name"):
        name = act.name
    if name == "linear":
        return None
    return name


def has_activation_attribute(op) -> bool:
    """True for layers such as Dense/Conv2D that end with ``self.activation``."""
    return (
        not isinstance(op, ACTIVATION_LAYERS)
        and callable(getattr(op, "activation", None))
        and activation_name(op) is not None
    )


@contextlib.contextmanager
def activation_removed(layer):
    """Temporarily make ``layer.activation`` the identity (restored on exit)."""
    with _ACTIVATION_LOCK:
        original = layer.activation
        layer.activation = keras.activations.linear
        try:
            yield original
        finally:
            layer.activation = original


@dataclass(eq=False)
class Step:
    """One operation of the flattened graph."""

    path: str
    op: object
    in_keys: tuple
    out_keys: tuple
    parent: str | None = None
    node: object = None  # keras Node; None for chain calls and aliases
    alias: bool = False

    @property
    def name(self):
        return self.path.rsplit("/", 1)[-1]


@dataclass(eq=False)
class Group:
    """A nested model inside the graph, with the keys of its inputs and outputs."""

    path: str
    model: object
    in_keys: tuple
    out_keys: tuple
    parent: str | None = None
    members: list = field(default_factory=list)


def _functional_of(model):
    """The Functional graph behind a model, or None for subclassed models."""
    if isinstance(model, keras.Sequential):
        return getattr(model, "_functional", None)
    if hasattr(model, "_nodes_by_depth") and hasattr(model, "inputs"):
        try:
            model.inputs
        except (AttributeError, ValueError):
            return None
        return model
    return None


def static_shape(tensor) -> tuple:
    """A tensor's static shape as a tuple of ints (None where unknown), batch axis included."""
    return tuple(None if d is None else int(d) for d in tensor.shape)


def shape_of_key(plan, key):
    """Static shape (with batch axis) of a tensor of the plan, or None if unknown."""
    step = plan.producer(key)
    if step is None:
        for tensor in plan.inputs:
            if id(tensor) == key:
                return static_shape(tensor)
        return None
    node = step.node
    if node is not None:
        for tensor in node.outputs:
            if id(tensor) == key:
                return static_shape(tensor)
        if len(node.outputs) == 1:
            return static_shape(node.outputs[0])
    try:
        return static_shape(step.op.output)
    except Exception:  # layers called more than once, or never symbolically
        return None


def entry_shape(plan, entry):
    """Static output shape of a Step or Group (single output), or None."""
    if len(entry.out_keys) != 1:
        return None
    if isinstance(entry, Group):
        outputs = entry.model.outputs
        return static_shape(outputs[0]) if len(outputs) == 1 else None
    return shape_of_key(plan, entry.out_keys[0])


def last_feature_map(plan, rank):
    """The last step whose output has ``rank`` axes (batch included) and more than one
    position, or None: the feature map Grad-CAM explains by default."""
    for step in reversed(plan.steps):
        if step.alias:
            continue
        shape = entry_shape(plan, step)
        if shape is not None and len(shape) == rank and math.prod(2 if d is None else int(d) for d in shape[1:-1]) > 1:
            return step
    return None


def _is_model(op):
    return isinstance(op, keras.Model)


_PLANS = weakref.WeakKeyDictionary()
_PLANS_LOCK = threading.Lock()


def plan_for(model) -> "GraphPlan":
    """The (cached) GraphPlan of a model; rebuilt if the model's layers changed."""
    with _PLANS_LOCK:
        plan = _PLANS.get(model)
        if plan is None or plan.signature != _model_signature(model):
            plan = GraphPlan(model)
            _PLANS[model] = plan
        return plan


def _model_signature(model):
    return tuple(id(layer) for layer in model.layers)


class GraphPlan:
    """The flattened, path-addressable graph of one model."""

    def __init__(self, model):
        if not isinstance(model, keras.Model):
            raise TypeError(f"expected a keras.Model, got {type(model).__name__}")
        if not model.built:
            raise NotSupportedError(
                f"model {model.name!r} is not built: call model.build(input_shape) "
                "or create it with a keras.Input so its input shape is known"
            )
        # weak: the plan is cached in a WeakKeyDictionary keyed by this model,
        # and a strong reference from the value would keep the model alive forever
        self._model_ref = weakref.ref(model)
        self.signature = _model_signature(model)
        self.steps: list[Step] = []
        self.groups: dict[str, Group] = {}
        self.entries: list = []  # Steps and Groups in execution order, for summaries
        self._by_path: dict[str, object] = {}
        self._synthetic = 0
        self._keep_alive = []

        functional = _functional_of(model)
        if functional is None:
            raise NotSupportedError(
                f"model {model.name!r} is a subclassed model (its own call()); nbinterp needs a Sequential "
                "or Functional model to address its layers. Rebuild it as a Functional model by calling "
                "its layers on a keras.Input, e.g. inp = keras.Input(shape); x = inp; for layer in "
                "[model.conv1, model.pool, model.dense]: x = layer(x); functional = keras.Model(inp, x) "
                "(the layers keep their trained weights)"
            )
        self.input_keys = tuple(id(t) for t in functional.inputs)
        self.inputs = list(functional.inputs)
        self._keep_alive.extend(functional.inputs)
        out_keys = self._expand(model, "", self.input_keys, parent=None)
        self.output_keys = tuple(out_keys)
        self._producer = {}
        for step in self.steps:
            for key in step.out_keys:
                self._producer[key] = step
        self._pruned_cache: dict = {}

    @property
    def model(self):
        """The model this plan describes (None once it has been garbage-collected)."""
        return self._model_ref()

    # ------------------------------------------------------------------ build
    def _new_key(self):
        self._synthetic += 1
        return ("synthetic", self._synthetic)

    def _add_step(self, step):
        self.steps.append(step)
        if not step.alias:
            self.entries.append(step)
            self._by_path[step.path] = step
            if step.parent is not None:
                self.groups[step.parent].members.append(step)

    def _unique_path(self, path):
        if path not in self._by_path:
            return path
        k = 1
        while f"{path}@{k}" in self._by_path:
            k += 1
        return f"{path}@{k}"

    def _expand(self, model, prefix, input_keys, parent):
        """Append the steps of ``model``; return the keys of its outputs."""
        functional = _functional_of(model)
        if functional is None and isinstance(model, keras.Sequential):
            return self._expand_chain(model, prefix, input_keys, parent)
        inner_inputs = list(functional.inputs)
        if len(inner_inputs) != len(input_keys):
            raise NotSupportedError(
                f"nested model {model.name!r} is called with {len(input_keys)} inputs "
                f"but declares {len(inner_inputs)}"
            )
        for src, tensor in zip(input_keys, inner_inputs):
            if src != id(tensor):
                self._add_step(Step(prefix + "<input>", None, (src,), (id(tensor),), parent, alias=True))
            self._keep_alive.append(tensor)

        node_count = {}
        for nodes in functional._nodes_by_depth.values():
            for node in nodes:
                if node.operation is not None and not node.is_input:
                    node_count[id(node.operation)] = node_count.get(id(node.operation), 0) + 1

        for depth in sorted(functional._nodes_by_depth, reverse=True):
            for node in functional._nodes_by_depth[depth]:
                op = node.operation
                if op is None or node.is_input:
                    continue
                in_keys = tuple(id(x) for x in node.input_tensors)
                out_keys = tuple(id(x) for x in node.outputs)
                self._keep_alive.extend(node.outputs)
                path = self._unique_path(prefix + op.name)
                expandable = (
                    _is_model(op)
                    and node_count[id(op)] == 1
                    and (_functional_of(op) is not None or isinstance(op, keras.Sequential))
                )
                if expandable:
                    group = Group(path, op, in_keys, out_keys, parent)
                    self.groups[path] = group
                    self._by_path[path] = group
                    self.entries.append(group)
                    if parent is not None:
                        self.groups[parent].members.append(group)
                    inner_out = self._expand(op, path + "/", in_keys, parent=path)
                    for src, dst in zip(inner_out, out_keys):
                        self._add_step(Step(path + "/<output>", None, (src,), (dst,), path, alias=True))
                else:
                    self._add_step(Step(path, op, in_keys, out_keys, parent, node=node))
        return [id(t) for t in functional.outputs]

    def _expand_chain(self, model, prefix, input_keys, parent):
        """An unbuilt-graph Sequential: its layers form a simple chain."""
        (key,) = input_keys
        for layer in model.layers:
            out = self._new_key()
            path = self._unique_path(prefix + layer.name)
            if _is_model(layer) and (_functional_of(layer) is not None or isinstance(layer, keras.Sequential)):
                group = Group(path, layer, (key,), (out,), parent)
                self.groups[path] = group
                self._by_path[path] = group
                self.entries.append(group)
                if parent is not None:
                    self.groups[parent].members.append(group)
                (inner_out,) = self._expand(layer, path + "/", (key,), parent=path)
                self._add_step(Step(path + "/<output>", None, (inner_out,), (out,), path, alias=True))
            else:
                self._add_step(Step(path, layer, (key,), (out,), parent))
            key = out
        return [key]

    # ------------------------------------------------------------------ lookup
    @property
    def paths(self):
        """Every addressable path (layers and nested models) in execution order."""
        return [e.path for e in self.entries]

    def resolve(self, name):
        """The Step or Group for a path; a bare layer name works when it is unique."""
        if isinstance(name, (Step, Group)):
            return name
        if not isinstance(name, str):
            raise TypeError(f"layer must be given by name (str), got {type(name).__name__}")
        entry = self._by_path.get(name)
        if entry is not None:
            return entry
        matches = [e for e in self.entries if e.path.rsplit("/", 1)[-1] == name]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            options = ", ".join(repr(m.path) for m in matches)
            raise UnknownLayerError(name, [m.path for m in matches]) from ValueError(
                f"ambiguous name; use one of {options}"
            )
        raise UnknownLayerError(name, self.paths)

    def direct_producer(self, key):
        """The step whose output is ``key``, alias steps included (None for model inputs)."""
        return self._producer.get(key)

    def producer(self, key):
        """The non-alias step whose output is ``key`` (following aliases)."""
        seen = 0
        while True:
            step = self._producer.get(key)
            if step is None:
                return None
            if not step.alias:
                return step
            key = step.in_keys[0]
            seen += 1
            if seen > 10_000:  # pragma: no cover - defensive against cycles
                return None

    def output_key(self, name):
        entry = self.resolve(name)
        if len(entry.out_keys) != 1:
            raise NotSupportedError(f"layer {entry.path!r} has {len(entry.out_keys)} outputs; only single-output layers can be viewed")
        return entry.out_keys[0]

    def input_key(self, name):
        entry = self.resolve(name)
        if len(entry.in_keys) != 1:
            raise NotSupportedError(f"layer {entry.path!r} has {len(entry.in_keys)} inputs; only single-input layers are supported here")
        return entry.in_keys[0]

    @staticmethod
    def pre_activation_key(step):
        return ("pre", step.path)

    def logit_key(self, output=0):
        """Key of output number ``output`` before a final softmax/sigmoid, if it has one.

        A softmax or sigmoid that ends a Dense (or any layer with an
        ``activation``) gives that layer's pre-activation; a separate
        Activation/Softmax layer gives its input; otherwise the output itself.
        """
        key = self.output_keys[output]
        step = self.producer(key)
        if step is None:
            return key
        name = activation_name(step.op)
        if name in ("softmax", "sigmoid"):
            if has_activation_attribute(step.op):
                return self.pre_activation_key(step)
            if isinstance(step.op, ACTIVATION_LAYERS) and len(step.in_keys) == 1:
                return step.in_keys[0]
        return key

    # ------------------------------------------------------------------ run
    def steps_for(self, want, fed=()):
        """The steps that compute keys ``want`` (in order) when keys ``fed`` are given, and the
        paths whose pre-activation is wanted: ``(steps, pre_paths)``, cached per request."""
        want = tuple(want)
        fed = frozenset(fed)
        cached = self._pruned_cache.get((want, fed))
        if cached is not None:
            return cached
        need = set()
        pre_paths = set()
        for key in want:
            if isinstance(key, tuple) and key and key[0] == "pre":
                step = self._by_path[key[1]]
                pre_paths.add(step.path)
                need.update(step.out_keys)
            else:
                need.add(key)
        selected = []
        for step in reversed(self.steps):
            if all(k in fed for k in step.out_keys):
                continue
            if any(k in need for k in step.out_keys):
                selected.append(step)
                need.update(step.in_keys)
        selected.reverse()
        missing = [k for k in need if k not in self._producer and k not in self.input_keys and k not in fed]
        if missing:  # pragma: no cover - graph inconsistency
            raise NotSupportedError("part of the requested graph is not connected to the model input")
        result = (selected, frozenset(pre_paths))
        self._pruned_cache[(want, fed)] = result
        return result

    def run(self, inputs, want, activation_override=None, training=False, feeds=None):
        """Compute the tensors for keys ``want`` from ``inputs`` (list, one per model input).

        ``activation_override(step, name)`` may return a function that
        replaces the step's activation (``name`` is e.g. 'relu'); it is applied
        to the layer's pre-activation value.

        ``feeds`` maps keys to tensors that replace what the graph would
        compute there (e.g. an embedding output watched by a GradientTape);
        steps upstream of fed keys are skipped, so ``inputs`` may then be [].
        """
        if not isinstance(inputs, (list, tuple)):
            inputs = [inputs]
        feeds = dict(feeds or {})
        selected, pre_paths = self.steps_for(want, feeds.keys())
        values = dict(zip(self.input_keys, inputs))
        values.update(feeds)
        for step in selected:
            if step.alias:
                values[step.out_keys[0]] = values[step.in_keys[0]]
                continue
            outputs = self.call_step(step, values, step.path in pre_paths, activation_override, training)
            for key, value in zip(step.out_keys, tree.flatten(outputs)):
                values[key] = value
        return [values[k] for k in want]

    def call_step(self, step, values, keep_pre=False, activation_override=None, training=False):
        """Call one step on the tensors in ``values`` (keyed as the plan keys them); with
        ``keep_pre`` its pre-activation is stored in ``values`` too. Returns its outputs."""
        op = step.op
        if step.node is not None:
            args, kwargs = step.node.arguments.fill_in(values)
        else:
            args, kwargs = (values[step.in_keys[0]],), {}
        if training is not None and "training" in getattr(op, "_call_context_args", ()):
            kwargs["training"] = training

        call = op if _valid_scope_name(getattr(op, "name", "")) else _direct_call(op)
        replacement = None
        name = activation_name(op)
        if activation_override is not None and name is not None:
            replacement = activation_override(step, name)

        if has_activation_attribute(op) and (keep_pre or replacement is not None):
            with activation_removed(op) as original:
                pre = call(*args, **kwargs)
            if keep_pre:
                values[self.pre_activation_key(step)] = pre
            return (replacement or original)(pre)
        if replacement is not None and isinstance(op, ACTIVATION_LAYERS):
            return replacement(args[0])
        return call(*args, **kwargs)
