"""The compiled engines of one model, shared by every view and method.

A person exploring a model touches most computations for the first time,
and each first touch of a compiled function pays a TensorFlow trace. So
the package does not compile one function per method: it compiles a few
*engines* per model, and every method is host code around them.

* :meth:`Engines.forward` - the outputs of a set of graph keys (layer
  outputs, pre-activations, logits): the Inspector's activations, predict,
  logits, top-class targets, occlusion and the perturbation methods.
* :meth:`Engines.gradients` - the gradient of each row's target logit with
  respect to a batch of inputs (or, for token models, of embeddings), with
  the logits. The backward rule through ReLU-family activations
  (:mod:`nbinterp.core.backward`) is a run-time argument, so one engine
  serves gradient, gradient x input, SmoothGrad, VarGrad, SquareGrad,
  integrated and interior gradients, guided backprop and deconvnet.
* :meth:`Engines.feature_gradients` - a feature map, the gradient of the
  target logit with respect to it, and the logits: Grad-CAM and Grad-CAM++
  of one layer share it.

Every engine is shape-polymorphic in the batch (and in spatial axes the
model leaves open), so new images, batch sizes, targets and option values
never trace again. Engines are stored in :mod:`nbinterp.core.compiled`,
which counts their traces and bounds their memory. Negative targets mean
"the top class of this very forward pass".
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
    def _input(self):
        return self.spec.single_input("this computation")

    def _x_spec(self):
        spec = self._input()
        return tf.TensorSpec(spec.batch_shape, tf.as_dtype(spec.dtype), name="x")

    def _z_spec(self):
        """The attribution space: the input itself, or the embedding output for token models."""
        spec = self._input()
        if spec.kind == "tokens":
            dim = int(spec.embedding.op.output_dim)
            return tf.TensorSpec(spec.batch_shape + (dim,), tf.float32, name="z")
        return self._x_spec()

    @property
    def tokens(self) -> bool:
        return self._input().kind == "tokens"

    # ---------------------------------------------------------------- forward
    def forward(self, keys):
        """Compiled ``f(x) -> [tensor for each key]`` (keys: graph keys, e.g. ``("pre", path)``)."""
        keys = tuple(keys)
        plan = self.plan

        def make():
            return _Body("forward", lambda x: plan.run([x], list(keys)))

        return _concrete(self.model, ("forward", keys), make, [self._x_spec()])

    def run(self, keys, x):
        """numpy values of ``keys`` for the batch ``x``."""
        return [np.asarray(v) for v in self.forward(keys)(tf.convert_to_tensor(x))]

    def head_keys(self) -> tuple:
        """The keys of the forward engine behind predictions: the output and the logits."""
        return tuple(dict.fromkeys((self.plan.output_keys[0], self.plan.logit_key())))

    def feature_layer_key(self):
        """The output key of the model's last feature map with more than one position
        (Grad-CAM's and CAM's layer), or None for models without one."""
        rank = {"image": 4, "sequence": 3, "tokens": 3}.get(self._input().kind)
        step = last_feature_map(self.plan, rank) if rank is not None else None
        return step.out_keys[0] if step is not None and len(step.out_keys) == 1 else None

    def logits(self, x, via_gradients=False) -> np.ndarray:
        """float32 class logits (the output before a final softmax/sigmoid) for ``x``.

        Forward work runs on an engine that is already compiled when one can
        serve it: the forward engine; else the feature-gradient engine of the
        last feature map (its backward part is the classifier head only);
        else, with ``via_gradients``, the gradient engine. Only when none is
        compiled does the forward engine get traced. All give the same logits.
        """
        model, keys = self.model, self.head_keys()
        if not compiled.contains(model, ("forward", keys)):
            feature = self.feature_layer_key()
            if feature is not None and compiled.contains(model, ("feature_gradient", feature)):
                return self.feature_gradients(feature, x, np.full(len(x), -1, np.int32))[2]
            if via_gradients and compiled.contains(model, ("gradient",)):
                return self.gradients(self.embed(x), np.full(len(x), -1, np.int32), x=x)[1]
        logits = self.run(keys, x)[-1]
        return logits.astype(np.float32, copy=False)

    def embed(self, x) -> np.ndarray:
        """The attribution space of ``x``: ``x`` itself, or its embeddings for token models."""
        if not self.tokens:
            return x
        (z,) = self.run((self._input().embedding.out_keys[0],), x)
        return z.astype(np.float32, copy=False)

    def _space_logits(self, x, z, override=None):
        """Logits (graph code) from attribution-space values ``z`` of inputs ``x``."""
        plan = self.plan
        if self.tokens:
            step = self._input().embedding
            feeds = {step.out_keys[0]: attach_mask(step, x, z)}
            (out,) = plan.run([x], [plan.logit_key()], activation_override=override, feeds=feeds)
        else:
            (out,) = plan.run([z], [plan.logit_key()], activation_override=override)
        return tf.cast(out, tf.float32)

    def space_logits(self, x, z) -> np.ndarray:
        """Logits for attribution-space values ``z`` (embeddings for token models, else the inputs)."""
        if not self.tokens:
            return self.logits(z)

        def make():
            return _Body("forward", self._space_logits)

        fn = _concrete(self.model, ("space_logits",), make, [self._x_spec(), self._z_spec()])
        return np.asarray(fn(tf.convert_to_tensor(x), tf.convert_to_tensor(z, tf.float32)))

    # ---------------------------------------------------------------- gradients
    def gradients(self, z, targets, x=None, rule: str = "gradient"):
        """``(gradients, logits, targets)`` as numpy for attribution-space rows ``z``.

        ``targets``: int32 per row, negative for the row's top class. ``x``:
        the token ids behind ``z`` (token models only). ``rule``: the
        backward rule through ReLU-family activations.
        """
        tokens = self.tokens

        def body(*args):
            if tokens:
                xs, zs, ts, rs = args
            else:
                (zs, ts, rs), xs = args, None
            override = backward.switchable_override(rs)
            with tf.GradientTape(watch_accessed_variables=False) as tape:
                tape.watch(zs)
                logits = self._space_logits(xs, zs, override)
                ts = _top_filled(ts, logits)
                score = tf.reduce_sum(_scores(logits, ts))
            return tf.cast(tape.gradient(score, zs), tf.float32), logits, ts

        def make():
            return _Body("gradient", body)

        t_spec = tf.TensorSpec([None], tf.int32, name="targets")
        r_spec = tf.TensorSpec([], tf.int32, name="rule")
        signature = ([self._x_spec()] if tokens else []) + [self._z_spec(), t_spec, r_spec]
        fn = _concrete(self.model, ("gradient",), make, signature)
        args = ([tf.convert_to_tensor(x)] if tokens else []) + [
            tf.convert_to_tensor(z), tf.convert_to_tensor(np.asarray(targets, np.int32)),
            tf.constant(backward.rule_index(rule), tf.int32),
        ]
        grads, logits, used = fn(*args)
        return grads.numpy(), logits.numpy(), used.numpy()

    def feature_gradients(self, feature_key, x, targets):
        """``(features, gradients of the target logit w.r.t. them, logits, targets)`` as numpy."""
        plan = self.plan

        float_input = not self.tokens

        def body(xs, ts):
            # variables are watched too, so the path from the features to the logits is
            # recorded even for token models (whose integer input cannot be watched)
            with tf.GradientTape() as tape:
                if float_input:
                    tape.watch(xs)
                features, out = plan.run([xs], [feature_key, plan.logit_key()])
                logits = tf.cast(out, tf.float32)
                ts = _top_filled(ts, logits)
                score = tf.reduce_sum(_scores(logits, ts))
            grads = tape.gradient(score, features)
            return tf.cast(features, tf.float32), tf.cast(grads, tf.float32), logits, ts

        def make():
            return _Body("feature_gradient", body)

        signature = [self._x_spec(), tf.TensorSpec([None], tf.int32, name="targets")]
        fn = _concrete(self.model, ("feature_gradient", feature_key), make, signature)
        out = fn(tf.convert_to_tensor(x), tf.convert_to_tensor(np.asarray(targets, np.int32)))
        return tuple(v.numpy() for v in out)

