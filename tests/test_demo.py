"""The shipped demo assets: trained digits CNN, data, photos, untrained builders."""

from __future__ import annotations

import numpy as np
import pytest

from nbinterp import demo


def test_digits_splits_shapes_and_dtypes():
    train, test = demo.load_digits("train"), demo.load_digits("test")
    for split in (train, test):
        assert isinstance(split, demo.Digits)
        assert split.images.dtype == np.uint8
        assert split.images.shape[1:] == (28, 28, 1)
        assert split.labels.dtype == np.int64
        assert split.labels.shape == (len(split.images),)
        assert split.class_names == [str(i) for i in range(10)]
        assert set(np.unique(split.labels)) == set(range(10))
        assert split.images.max() > 200 and split.images.min() == 0
    total = len(train.labels) + len(test.labels)
    assert total == 1797  # scikit-learn's digits
    assert 0.18 <= len(test.labels) / total <= 0.22
    # stratified: every class has about the same share in the test split
    counts = np.bincount(test.labels, minlength=10)
    assert counts.min() >= 30
    # no image is in both splits
    train_keys = {img.tobytes() + bytes([lab]) for img, lab in zip(train.images, train.labels)}
    overlap = sum(img.tobytes() + bytes([lab]) in train_keys for img, lab in zip(test.images, test.labels))
    assert overlap <= 2  # a few 8x8 digits are exact duplicates in the source data


def test_load_digits_rejects_unknown_split():
    with pytest.raises(ValueError, match="split"):
        demo.load_digits("validation")


def test_load_digits_returns_independent_arrays():
    a = demo.load_digits()
    a.images[:] = 0
    a.class_names.append("x")
    b = demo.load_digits()
    assert b.images.max() > 0
    assert len(b.class_names) == 10


def test_model_architecture(model):
    assert model.name == "digits_cnn"
    assert tuple(model.input_shape) == (None, 28, 28, 1)
    assert tuple(model.output_shape) == (None, 10)
    names = [layer.name for layer in model.layers]
    for name in ["rescale", "conv1", "pool1", "conv2", "pool2", "conv3", "gap", "predictions"]:
        assert name in names
    assert names.index("conv1") < names.index("conv2") < names.index("conv3") < names.index("gap")
    assert names[-2:] == ["gap", "predictions"]
    assert model.get_layer("conv1").filters == 8
    assert model.get_layer("conv3").filters == 32


def test_build_digits_cnn_matches_shipped_architecture(model):
    fresh = demo.build_digits_cnn()
    assert [layer.name for layer in fresh.layers] == [layer.name for layer in model.layers]
    assert [w.shape for w in fresh.get_weights()] == [w.shape for w in model.get_weights()]
    # untrained: differs from the shipped weights
    assert not np.allclose(fresh.get_layer("conv1").get_weights()[0], model.get_layer("conv1").get_weights()[0])


def test_shipped_model_held_out_accuracy(model):
    test = demo.load_digits("test")
    probs = model.predict(test.images, verbose=0, batch_size=256)
    assert probs.shape == (len(test.labels), 10)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-4)
    accuracy = float((probs.argmax(axis=1) == test.labels).mean())
    assert accuracy >= 0.93, accuracy


def test_load_model_returns_a_fresh_copy_each_call(model):
    other = demo.load_model()
    assert other is not model
    kernel = other.get_layer("conv1").kernel
    kernel.assign(np.zeros(kernel.shape, dtype="float32"))
    assert np.abs(demo.load_model().get_layer("conv1").get_weights()[0]).sum() > 0


def test_weights_file_is_small():
    assert demo.data_path(demo.MODEL_FILE).stat().st_size < 2 * 1024 * 1024


def test_photos():
    photos = demo.load_photos()
    assert isinstance(photos, demo.Photos)
    assert photos.images.dtype == np.uint8
    assert photos.images.ndim == 4 and photos.images.shape[1:] == (224, 224, 3)
    assert len(photos.names) == len(photos.images) >= 3
    assert all(isinstance(n, str) and n for n in photos.names)
    # real colour photos, not blank or gray
    for img in photos.images:
        assert img.std() > 20
        assert np.abs(img[..., 0].astype(int) - img[..., 2].astype(int)).mean() > 5
    assert demo.data_path(demo.PHOTOS_FILE).stat().st_size < 1024 * 1024


def test_preprocess_wrappers_leave_input_untouched():
    import keras

    x = np.random.default_rng(0).uniform(0, 255, (2, 8, 8, 3)).astype("float32")
    before = x.copy()
    for ours, theirs in [
        (demo.vgg16_preprocess, keras.applications.vgg16.preprocess_input),
        (demo.resnet50_preprocess, keras.applications.resnet50.preprocess_input),
    ]:
        out = ours(x)
        np.testing.assert_array_equal(x, before)
        np.testing.assert_allclose(out, theirs(x.copy()))
    # integer images work and come back as float
    out = demo.vgg16_preprocess(x.astype(np.uint8))
    assert np.issubdtype(np.asarray(out).dtype, np.floating)


def test_untrained_builders_carry_the_note():
    vgg = demo.build_vgg16(include_top=False, input_shape=(32, 32, 3))
    assert demo.untrained_note(vgg) == demo.UNTRAINED_NOTE
    assert "Untrained" in demo.untrained_note(vgg)
    assert vgg.name.startswith("vgg16")
    resnet = demo.build_resnet50()
    assert demo.untrained_note(resnet) == demo.UNTRAINED_NOTE
    assert tuple(resnet.output_shape) == (None, 1000)
    assert demo.untrained_note(demo.load_model()) is None
