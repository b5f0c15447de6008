"""Each control shows only on the tabs it acts on, with the option table's labels, in a
layout that does not shift."""

import pytest

import nbinterp
from nbinterp import attribution, demo
from nbinterp.widgets.explorer import TAB_TITLES


@pytest.fixture(scope="module")
def explorer():
    digits = demo.load_digits()
    ex = nbinterp.Explorer(demo.load_model(), digits.images[:3], warm_up=False)
    yield ex
    ex.close()


def visible(control):
    return control.layout.visibility != "hidden" and control.layout.display != "none"


def on(explorer, title, layer="conv2", method="gradient"):
    explorer.layer.value = layer
    explorer.method.value = method
    explorer.tabs.selected_index = TAB_TITLES.index(title)
    return {name: visible(getattr(explorer, name))
            for name in ("method", "target", "opacity", "input_channel", "options_box", "channel")}


@pytest.mark.parametrize("title", [t for t in TAB_TITLES if t != "Saliency"])
def test_saliency_controls_show_only_on_the_saliency_tab(explorer, title):
    shown = on(explorer, title)
    assert not shown["method"] and not shown["target"] and not shown["opacity"] and not shown["options_box"]
    assert shown["channel"] == (title != "Architecture")


def test_the_saliency_tab_shows_what_its_method_uses(explorer):
    shown = on(explorer, "Saliency", method="smoothgrad")
    assert shown["method"] and shown["target"] and shown["opacity"] and shown["options_box"]
    assert not shown["channel"] and not shown["input_channel"]  # an attribution ignores them
    shown = on(explorer, "Saliency", method="maximize")
    assert shown["channel"] and not shown["opacity"] and not shown["target"]  # what conv2's channel wants
    shown = on(explorer, "Saliency", layer="predictions", method="maximize")
    assert shown["target"] and not shown["channel"]  # on the output, Maximize aims at a class


def test_input_channel_shows_only_where_a_layer_has_several(explorer):
    assert on(explorer, "Filters", layer="conv2")["input_channel"]  # 8 input channels
    assert not on(explorer, "Filters", layer="conv1")["input_channel"]  # a grey image: one
    assert not on(explorer, "Activations", layer="conv2")["input_channel"]  # the tab ignores it
    assert on(explorer, "Kernel response", layer="conv3")["input_channel"]


def test_method_options_carry_their_table_labels_in_a_fixed_row(explorer):
    on(explorer, "Saliency")
    header = explorer._controls_box.children[0].children
    for name, cls in attribution.METHODS.items():
        explorer.method.value = name
        assert explorer._controls_box.children[0].children == header  # the same rows: nothing shifts
        assert explorer.options_box.layout.min_height == "34px"
        controls = explorer.method_options[name]
        shown = tuple(c for c in explorer.options_box.children if c is not explorer.sign)
        assert shown == tuple(controls.values())
        for option in cls.option_table:
            if option.name in controls:
                assert controls[option.name].description == option.text and option.text != option.name
                assert controls[option.name].tooltip == option.help
    explorer.method.value = "gradient"
