"""The compiled engines of one model, shared by every view and method.

A person exploring a model touches most computations for the first time,
and each first touch of a compiled function pays a TensorFlow trace. So
the package does not compile one function per method: it compiles a few
*engines* per model, and every method is host code around them.

* :meth:`Engines.forward` - the outputs of a set of graph keys (layer
  outputs, pre-activations, logits): the Inspector's activations, predict,
  logits, top-class targets, occlusion and the perturbation methods.
* :meth:`Engines.gradients` - the gradient of each row's target logit with
  respect to a batch of one input (or, for token inputs, of its
  embeddings), with the logits. The backward rule through ReLU-family
  activations (:mod:`nbinterp.core.backward`) is a run-time argument, so one
  engine serves gradient, gradient x input, SmoothGrad, VarGrad,
  SquareGrad, integrated and interior gradients, guided backprop and
  deconvnet.
* :meth:`Engines.feature_gradients` - a feature map, the gradient of the
  target logit with respect to it, and the logits: CAM, Grad-CAM and
  Grad-CAM++ of one layer share it.

Inputs are always a list with one array per model input, in the model's
order (:mod:`nbinterp.core.model_spec`); ``input`` picks the one explained
and ``output`` the head whose logit is explained. Every engine is
shape-polymorphic in the batch (and in spatial axes the model leaves
open), so new images, batch sizes, targets and option values never trace
again. Engines are stored in :mod:`nbinterp.core.compiled`, which counts
their traces and bounds their memory. Negative targets mean "the top class
of this very forward pass".
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from . import backward, compiled
from .graph import last_feature_map, plan_for
from .model_spec import attach_mask, model_spec


def engines_for(model) -> "Engines":
    """The (cached) engines of a model."""
    plan = plan_for(model)
    engines = plan.__dict__.get("_engines")
    if engines is None:
        engines = plan.__dict__["_engines"] = Engines(plan)
    return engines


def _concrete(model, key, make, signature):
    """A concrete function under ``key``: traced once, then called without tf.function's dispatch."""

    def build():
        return tf.function(make(), input_signature=signature, autograph=False)

    function = compiled.function(model, key, build)
    concrete = function.get_concrete_function()  # cached by tf.function after the first trace
    compiled.measure(model, key, concrete)
    return concrete


class _Body:
    """A traced Python body; counts its traces. A callable object rather than a closure,
    so TensorFlow's retracing warning (grouped by code object) never fires for distinct engines."""

    def __init__(self, kind, inner):
        self.kind = kind
        self.inner = inner

    def __call__(self, *args):
        compiled.note_trace(self.kind)
        return self.inner(*args)


def _top_filled(targets, logits):
    return tf.where(targets < 0, tf.argmax(logits, axis=-1, output_type=tf.int32), targets)


def _scores(logits, targets):
    return tf.gather(logits, targets[:, None], batch_dims=1)[:, 0]


def _tensors(xs):
    return [tf.convert_to_tensor(x) for x in xs]


def _rows(targets):
    return tf.convert_to_tensor(np.asarray(targets, np.int32))


class Engines:
    """Engines of one graph plan. Hold no reference to the model itself (only to its layers),
    so compiled functions never keep a model alive."""

    def __init__(self, plan):
        self.plan = plan
        self.spec = model_spec(plan)

    @property
    def model(self):
        return self.plan.model

    # ---------------------------------------------------------------- specs
    def _x_specs(self):
        return [tf.TensorSpec(i.batch_shape, tf.as_dtype(i.dtype), name=f"x{n}") for n, i in enumerate(self.spec.inputs)]

    def tokens(self, input=0) -> bool:
        """Whether input ``input`` holds token ids (explained in its embedding space)."""
        return self.spec.inputs[input].kind == "tokens"

    def _z_spec(self, input):
        """The attribution space of an input: the input itself, or the embedding output for token ids."""
        spec = self.spec.inputs[input]
        if spec.kind == "tokens":
            dim = int(spec.embedding.op.output_dim)
            return tf.TensorSpec(spec.batch_shape + (dim,), tf.float32, name="z")
        return self._x_specs()[input]

    # ---------------------------------------------------------------- forward
    def forward(self, keys):
        """Compiled ``f(*xs) -> [tensor for each key]`` (keys: graph keys, e.g. ``("pre", path)``)."""
        keys = tuple(keys)
        plan = self.plan

        def make():
            return _Body("forward", lambda *xs: plan.run(list(xs), list(keys)))

        return _concrete(self.model, ("forward", keys), make, self._x_specs())

    def run(self, keys, xs):
        """numpy values of ``keys`` for the inputs ``xs`` (a list, one array per model input)."""
        return [np.asarray(v) for v in self.forward(keys)(*_tensors(xs))]

    def head_keys(self, output=0) -> tuple:
        """The keys of the forward engine behind predictions: an output and its logits."""
        return tuple(dict.fromkeys((self.plan.output_keys[output], self.plan.logit_key(output))))

    def feature_layer_key(self, input=0):
        """The output key of the model's last feature map with more than one position
        (Grad-CAM's and CAM's layer), or None for models without one."""
        rank = {"image": 4, "sequence": 3, "tokens": 3}.get(self.spec.inputs[input].kind)
        step = last_feature_map(self.plan, rank) if rank is not None else None
        return step.out_keys[0] if step is not None and len(step.out_keys) == 1 else None

    def logits(self, xs, output=0, input=0, via_gradients=False) -> np.ndarray:
        """float32 logits (output ``output`` before a final softmax/sigmoid) for the inputs ``xs``.

        Forward work runs on an engine that is already compiled when one can
        serve it: the forward engine; else the feature-gradient engine of the
        last feature map (its backward part is the classifier head only);
        else, with ``via_gradients``, the gradient engine of ``input``. Only
        when none is compiled does the forward engine get traced. All give
        the same logits.
        """
        model, keys = self.model, self.head_keys(output)
        n = len(xs[0])
        if not compiled.contains(model, ("forward", keys)):
            feature = self.feature_layer_key(input)
            if feature is not None and compiled.contains(model, ("feature_gradient", feature, output)):
                return self.feature_gradients(feature, xs, np.full(n, -1, np.int32), output)[2]
            if via_gradients and compiled.contains(model, ("gradient", input, output)):
                z = self.embed(xs, input)
                return self.gradients(z, np.full(n, -1, np.int32), xs, input, output)[1]
        logits = self.run(keys, xs)[-1]
        return logits.astype(np.float32, copy=False)

    def embed(self, xs, input=0) -> np.ndarray:
        """The attribution space of input ``input``: its values, or their embeddings for token ids."""
        if not self.tokens(input):
            return xs[input]
        (z,) = self.run((self.spec.inputs[input].embedding.out_keys[0],), xs)
        return z.astype(np.float32, copy=False)

    def _space_logits(self, xs, z, input, output, override=None):
        """Logits (graph code) with input ``input`` replaced by attribution-space values ``z``."""
        plan = self.plan
        xs = list(xs)
        feeds = None
        if self.tokens(input):
            step = self.spec.inputs[input].embedding
            feeds = {step.out_keys[0]: attach_mask(step, xs[input], z)}
        else:
            xs[input] = z
        (out,) = plan.run(xs, [plan.logit_key(output)], activation_override=override, feeds=feeds)
        return tf.cast(out, tf.float32)

    def space_logits(self, xs, z, input=0, output=0) -> np.ndarray:
        """Logits with input ``input`` replaced by attribution-space values ``z``."""
        if not self.tokens(input):
            xs = list(xs)
            xs[input] = z
            return self.logits(xs, output, input)

        def body(*args):
            return self._space_logits(args[:-1], args[-1], input, output)

        fn = _concrete(self.model, ("space_logits", input, output), lambda: _Body("forward", body),
                       self._x_specs() + [self._z_spec(input)])
        return np.asarray(fn(*_tensors(xs), tf.convert_to_tensor(z, tf.float32)))

    # ---------------------------------------------------------------- gradients
    def gradients(self, z, targets, xs, input=0, output=0, rule: str = "gradient"):
        """``(gradients, logits, targets)`` as numpy for attribution-space rows ``z`` of input ``input``.

        ``xs``: every model input for these rows (the explained one's values
        are replaced by ``z``; token ids stay for their padding mask).
        ``targets``: int32 per row, negative for the row's top class.
        ``rule``: the backward rule through ReLU-family activations.
        """
        count = len(self.spec.inputs)

        def body(*args):
            xs_, zs, ts, rs = args[:count], args[count], args[count + 1], args[count + 2]
            override = backward.switchable_override(rs)
            with tf.GradientTape(watch_accessed_variables=False) as tape:
                tape.watch(zs)
                logits = self._space_logits(xs_, zs, input, output, override)
                ts = _top_filled(ts, logits)
                score = tf.reduce_sum(_scores(logits, ts))
            return tf.cast(tape.gradient(score, zs), tf.float32), logits, ts

        signature = self._x_specs() + [
            self._z_spec(input), tf.TensorSpec([None], tf.int32, name="targets"), tf.TensorSpec([], tf.int32, name="rule")
        ]
        fn = _concrete(self.model, ("gradient", input, output), lambda: _Body("gradient", body), signature)
        grads, logits, used = fn(
            *_tensors(xs), tf.convert_to_tensor(z), _rows(targets), tf.constant(backward.rule_index(rule), tf.int32)
        )
        return grads.numpy(), logits.numpy(), used.numpy()

    def feature_gradients(self, feature_key, xs, targets, output=0):
        """``(features, gradients of the target logit w.r.t. them, logits, targets)`` as numpy."""
        plan = self.plan
        count = len(self.spec.inputs)
        floats = [i for i, spec in enumerate(self.spec.inputs) if spec.dtype.kind == "f"]

        def body(*args):
            xs_, ts = list(args[:count]), args[count]
            # variables are watched too, so the path from the features to the logits is
            # recorded even for token models (whose integer input cannot be watched)
            with tf.GradientTape() as tape:
                for i in floats:
                    tape.watch(xs_[i])
                features, out = plan.run(xs_, [feature_key, plan.logit_key(output)])
                logits = tf.cast(out, tf.float32)
                ts = _top_filled(ts, logits)
                score = tf.reduce_sum(_scores(logits, ts))
            grads = tape.gradient(score, features)
            return tf.cast(features, tf.float32), tf.cast(grads, tf.float32), logits, ts

        signature = self._x_specs() + [tf.TensorSpec([None], tf.int32, name="targets")]
        fn = _concrete(self.model, ("feature_gradient", feature_key, output), lambda: _Body("feature_gradient", body),
                       signature)
        out = fn(*_tensors(xs), _rows(targets))
        return tuple(v.numpy() for v in out)
