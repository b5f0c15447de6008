"""Typed errors for labels and model lists that are not what they should be."""

import pytest

import nbinterp
from nbinterp import demo
from nbinterp.errors import InvalidInputError
from nbinterp.weights import WeightHistory


@pytest.fixture(scope="module")
def images():
    return demo.load_digits("test").images[:2]


@pytest.mark.parametrize("labels, words", [
    ([1.5, 2], "label #0 is 1.5"),
    (["cat", "dog"], "label #0 is 'cat' (class names go in class_names=)"),
    ([3, True], "label #1 is True"),
    ([3, float("nan")], "label #1 is nan"),
    ([3, 10], "label #1 is 10: class indices run from 0 to 9"),
    ([-1, 2], "label #0 is -1"),
])
def test_explorer_labels_must_be_class_indices(model, images, labels, words):
    with pytest.raises(InvalidInputError) as error:
        nbinterp.Explorer(model, images, labels=labels)
    assert words in str(error.value)


def test_whole_float_labels_are_class_indices(model, images):
    ex = nbinterp.Explorer(model, images, labels=[7.0, 2.0], warm_up=False)
    try:
        assert ex._labels == [7, 2] and "(label 7)" in ex.image.options[0][0]
    finally:
        ex.close()


def test_weight_history_from_models_names_what_is_not_a_model(model):
    with pytest.raises(InvalidInputError) as error:
        WeightHistory.from_models([model, "x"])
    assert "item #1 is str 'x'" in str(error.value) and "from_checkpoints" in str(error.value)
    with pytest.raises(InvalidInputError, match="item #0 is int 5"):
        WeightHistory.from_models([5])
