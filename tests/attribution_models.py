"""Small models and independent references shared by the attribution tests.

References are computed without nbinterp: a plain ``tf.GradientTape`` on a
separately built copy of each model whose output layer is linear (same
weights), numpy formulas, and naive Python loops.
"""


import keras
import numpy as np
import tensorflow as tf



CLASSES = 5


SIZE = 12


def _bias(seed):
    return keras.initializers.RandomNormal(mean=0.05, stddev=0.1, seed=seed)


def conv_net(head="softmax", seed=0, size=SIZE, pool_before_gap=True):
    """conv -> (pool) -> conv -> GAP -> Dense; non-zero biases so ReLU gating varies along paths."""
    keras.utils.set_random_seed(seed)
    inp = keras.Input((size, size, 3), name="image")
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu", bias_initializer=_bias(1), name="conv1")(inp)
    if pool_before_gap:
        x = keras.layers.MaxPooling2D(name="pool")(x)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", bias_initializer=_bias(2), name="conv2")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    x = keras.layers.Dropout(0.5, name="drop")(x)
    out = keras.layers.Dense(CLASSES, activation=head, bias_initializer=_bias(3), name="predictions")(x)
    return keras.Model(inp, out, name=f"conv_net_{head}")


def linear_copy(model, builder, **kwargs):
    """The same architecture with a linear output layer, carrying the model's weights."""
    copy = builder(head=None, **kwargs)
    copy.set_weights(model.get_weights())
    return copy


def smooth_net(head="softmax", seed=0):
    keras.utils.set_random_seed(seed)
    inp = keras.Input((8, 8, 2))
    x = keras.layers.Conv2D(5, 3, padding="same", activation="tanh", bias_initializer=_bias(4), name="conv1")(inp)
    x = keras.layers.Conv2D(6, 3, padding="same", activation="softplus", bias_initializer=_bias(5), name="conv2")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    out = keras.layers.Dense(CLASSES, activation=head, bias_initializer=_bias(6), name="predictions")(x)
    return keras.Model(inp, out)


def text_net(head="softmax", seed=0, length=20, vocab=40, dim=6):
    keras.utils.set_random_seed(seed)
    tokens = keras.Input((length,), dtype="int32", name="tokens")
    e = keras.layers.Embedding(vocab, dim, name="embed")(tokens)
    x = keras.layers.Conv1D(7, 3, padding="same", activation="relu", bias_initializer=_bias(7), name="conv")(e)
    x = keras.layers.GlobalAveragePooling1D(name="gap")(x)
    out = keras.layers.Dense(4, activation=head, bias_initializer=_bias(8), name="predictions")(x)
    return keras.Model(tokens, out)


def text_head(model):
    """The part of a text model after its embedding, as a separate model on (T, E) inputs."""
    emb = model.get_layer("embed")
    inp = keras.Input((model.input_shape[1], emb.output_dim))
    x = inp
    for name in ("conv", "gap"):
        x = model.get_layer(name)(x)
    dense = model.get_layer("predictions")
    head = keras.layers.Dense(dense.units, name="linear_head")
    out = head(x)
    head.set_weights(dense.get_weights())
    return keras.Model(inp, out)


def tape_gradients(logit_model, x, targets):
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        logits = logit_model(x, training=False)
        score = tf.reduce_sum(tf.gather(logits, np.asarray(targets)[:, None], batch_dims=1))
    return tape.gradient(score, x).numpy()


def logits_of(logit_model, x):
    return logit_model(tf.constant(x), training=False).numpy()


def images(n, size=SIZE, seed=0, channels=3):
    return np.random.default_rng(seed).uniform(0, 1, (n, size, size, channels)).astype("float32")


def quadratic_net(head=None):
    """logit_c = sum_i W[i, c] * x_i^2: gradient 2 W x, so the noise statistics are known exactly."""
    keras.utils.set_random_seed(3)
    inp = keras.Input((4, 4, 2))
    x = keras.layers.Lambda(lambda t: t * t, name="square")(inp)
    x = keras.layers.Flatten(name="flat")(x)
    out = keras.layers.Dense(3, activation=head, use_bias=False, name="predictions")(x)
    return keras.Model(inp, out)


def features_and_grads(model, logit_model, layer, x, targets):
    feature_model = keras.Model(logit_model.input, [logit_model.get_layer(layer).output, logit_model.output])
    with tf.GradientTape() as tape:
        features, logits = feature_model(tf.constant(x))
        score = tf.reduce_sum(tf.gather(logits, np.asarray(targets)[:, None], batch_dims=1))
    return features.numpy(), tape.gradient(score, features).numpy()


def single_relu_net(head="softmax", relu="dense"):
    """x -> Dense -> one ReLU (inside the Dense, as a layer, or a capped ReLU layer) -> Dense."""
    keras.utils.set_random_seed(5)
    inp = keras.Input((6,))
    activation = "relu" if relu == "dense" else None
    h = keras.layers.Dense(10, activation=activation, bias_initializer=_bias(9), name="hidden")(inp)
    if relu == "activation":
        h = keras.layers.Activation("relu")(h)
    elif relu == "capped":
        h = keras.layers.ReLU(max_value=0.5)(h)
    out = keras.layers.Dense(3, activation=head, name="predictions")(h)
    return keras.Model(inp, out)
