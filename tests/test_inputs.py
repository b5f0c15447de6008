"""nbinterp.core.inputs: what users pass as images, validated into one model-ready batch."""

import keras
import numpy as np
import pytest

from nbinterp import Inspector
from nbinterp.attribution import attribute
from nbinterp.core.inputs import as_batch, fits_shape, to_numpy
from nbinterp.errors import IndexOutOfRangeError, InputShapeError, InvalidInputError, check_index


def test_one_image_a_batch_and_a_grayscale_image_without_channel_axis():
    assert as_batch(np.zeros((8, 8, 3)), (8, 8, 3)).shape == (1, 8, 8, 3)
    assert as_batch(np.zeros((4, 8, 8, 3)), (8, 8, 3)).shape == (4, 8, 8, 3)
    assert as_batch(np.zeros((8, 8)), (8, 8, 1)).shape == (1, 8, 8, 1)
    assert as_batch(np.zeros((2, 8, 8)), (8, 8, 1)).shape == (2, 8, 8, 1)
    assert as_batch(np.zeros((2, 5, 7, 3)), (None, None, 3)).shape == (2, 5, 7, 3)
    assert fits_shape((5, 7, 3), (None, None, 3)) and not fits_shape((5, 7), (None, None, 3))


def test_shape_dtype_and_value_errors_say_what_was_expected():
    with pytest.raises(InputShapeError, match=r"one input of shape \(8, 8, 3\)"):
        as_batch(np.zeros((9, 9, 3)), (8, 8, 3))
    with pytest.raises(InvalidInputError, match="NaN or infinite"):
        as_batch(np.full((8, 8, 3), np.nan), (8, 8, 3))
    with pytest.raises(InvalidInputError, match="empty"):
        as_batch(np.zeros((0, 8, 8, 3)), (8, 8, 3))
    with pytest.raises(InvalidInputError, match="numeric"):
        as_batch(np.array([["a"]]), (1,))
    with pytest.raises(InputShapeError, match="different shapes"):
        to_numpy([np.zeros((8, 8, 3)), np.zeros((7, 8, 3))])


def test_token_ids_are_checked_against_the_vocabulary():
    with pytest.raises(InvalidInputError, match="token id 12 is outside the model's vocabulary: its Embedding takes ids 0 to 9"):
        as_batch(np.array([[1, 12]]), (2,), "int32", vocabulary=10)
    with pytest.raises(InvalidInputError, match="token id -1"):
        as_batch(np.array([[-1, 2]]), (2,), "int32", vocabulary=10)
    tokens = keras.Input((5,), dtype="int32")
    x = keras.layers.GlobalAveragePooling1D()(keras.layers.Embedding(10, 3)(tokens))
    model = keras.Model(tokens, keras.layers.Dense(2)(x))
    with pytest.raises(InvalidInputError, match="vocabulary"):
        attribute(model, np.array([[1, 2, 3, 4, 10]]))
    with pytest.raises(InvalidInputError, match="vocabulary"):
        Inspector(model).activations(model.layers[1].name, np.array([[1, 2, 3, 4, 99]]))


def test_preprocess_errors_name_the_function_and_dropped_rows_are_refused():
    def scale(batch):
        return batch / 0 if batch.sum() < 0 else batch[:1]

    def broken(batch):
        raise ZeroDivisionError("division by zero")

    with pytest.raises(InputShapeError, match="'scale' returned 1 images for 4"):
        as_batch(np.zeros((4, 8, 8, 3)), (8, 8, 3), preprocess=scale)
    with pytest.raises(InvalidInputError, match="'broken' raised ZeroDivisionError"):
        as_batch(np.zeros((4, 8, 8, 3)), (8, 8, 3), preprocess=broken)


def test_indices_must_be_whole_numbers_not_strings_or_booleans():
    assert check_index(3, 5, "kernel") == 3 and check_index(np.int64(2), 5, "kernel") == 2
    assert check_index(2.0, 5, "kernel") == 2
    for bad in ("0", True, 1.5, None, float("nan"), float("inf")):
        with pytest.raises(IndexOutOfRangeError, match="kernel must be an integer"):
            check_index(bad, 5, "kernel")
    with pytest.raises(IndexOutOfRangeError, match="valid values are 0 to 4"):
        check_index(5, 5, "kernel")
