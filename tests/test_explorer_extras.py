"""Small but visible: Top images layout and patch ground, the Architecture list's headers,
Save PNG as a browser download with captions, TensorFlow's start-up notices."""

import base64
import io
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import nbinterp
from nbinterp import demo, views
from nbinterp._tf_start import kept_lines
from nbinterp.widgets.explorer import TAB_TITLES
from nbinterp.widgets.tabs.architecture import HEADER


@pytest.fixture(scope="module")
def explorer():
    digits = demo.load_digits()
    ex = nbinterp.Explorer(demo.load_model(), digits.images[:8], warm_up=False)
    ex.wait()
    yield ex
    ex.close()


def test_top_images_captions_wrap_apart_and_patches_sit_on_grey(explorer):
    explorer.tabs.selected_index = TAB_TITLES.index("Top images")
    explorer.layer.value = "conv1"
    explorer.wait()
    tab = explorer.tabs_by_title["Top images"]
    for canvas in tab.canvases:
        assert canvas.layout.max_width == "310px" and canvas.layout.margin.split()[1] != "0"
    shown = tab.patches.image.reshape(tab.patches.shape)
    ground = np.ones(shown.shape[:2], bool)
    for region in tab.patches.regions:
        ground[region["y"]:region["y"] + region["h"], region["x"]:region["x"] + region["w"]] = False
    assert ground.any() and np.all(shown[ground] == views.PATCH_GROUND)  # no white padding
    # every patch is drawn as the model receives it (its own pixels, enlarged)
    from nbinterp.units.top_activations import top_activations

    result = top_activations(explorer.inspector, "conv1", 0, np.stack(explorer.images), k=9)
    first = tab.patches.regions[0]
    patch = result.patches[0][..., 0]
    step = first["w"] // patch.shape[1]
    drawn = shown[first["y"]:first["y"] + first["h"]:step, first["x"]:first["x"] + first["w"]:step, 0]
    assert np.array_equal(drawn, patch)


def test_architecture_list_has_aligned_column_headers(explorer):
    tab = explorer.tabs_by_title["Architecture"]
    assert tab.header in tab.box.children
    text = re.sub("<[^>]+>", "", tab.header.value)
    assert text.split() == ["layer", "kind", "output", "shape", "parameters"]
    for label, _ in tab.table.options:
        kind_column = HEADER.index("kind")
        assert label[kind_column - 1] == " " and label[kind_column] != " "
        assert len(label) == len(HEADER)  # the parameter counts end under "parameters"


def test_save_png_offers_a_browser_download_with_captions(explorer, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    explorer.tabs.selected_index = TAB_TITLES.index("Activations")
    explorer.layer.value = "conv2"
    explorer.wait()
    explorer.export_button.click()
    link = explorer.download.value
    match = re.search(r'download="([^"]+)" href="data:image/png;base64,([^"]+)"', link)
    assert match and match.group(1) == "nbinterp-activations-conv2.png"
    png = base64.b64decode(match.group(2))
    assert png == explorer.export_png("Activations")
    tab = explorer.tabs_by_title["Activations"]
    tallest = max(p.image.shape[0] for p in tab.pictures())
    assert Image.open(io.BytesIO(png)).size[1] > tallest + 20  # title and captions drawn with the pictures
    assert "ready" in explorer.status.value
    assert list(tmp_path.iterdir()) == []  # nothing written beside the notebook
    explorer.channel.value = 3  # a change makes the link stale: it goes
    assert explorer.download.value == ""


def test_tensorflow_start_up_notices_stay_out_of_the_output():
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "NBINTERP_TF_LOGS")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    code = "import nbinterp; nbinterp.demo.load_model(); print('ok')"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
    for notice in ("cuInit", "oneDNN", "absl::InitializeLog", "cuda drivers"):
        assert notice not in done.stderr, done.stderr
    # what is not a known notice is written back
    assert kept_lines("E0000 cuda_platform.cc:52] failed call to cuInit: x\nreal problem\n") == ["real problem"]
