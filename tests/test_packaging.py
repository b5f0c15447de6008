"""The package ships its front-end module and demo data, both as a wheel and
from a source tree (editable install)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

DATA_FILES = ["digits.npz", "digits_cnn.keras", "photos.npz"]

LOCATE = (
    "import nbinterp, nbinterp._assets as a, nbinterp.demo as d; "
    "print(nbinterp.__file__); print(a.js_path('canvas.js')); "
    "print(d.data_path('digits_cnn.keras'))"
)


def _locate(pythonpath: Path, cwd: Path) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(pythonpath)
    out = subprocess.run(
        [sys.executable, "-c", LOCATE], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip().splitlines()


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    cmd = [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q", "-w", str(out)]
    if importlib.util.find_spec("hatchling") is not None:
        cmd.append("--no-build-isolation")  # no index access needed
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    wheels = list(out.glob("nbinterp-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def test_wheel_contains_js_and_demo_data(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "nbinterp/_js/canvas.js" in names
    assert "nbinterp/_assets.py" in names
    assert "nbinterp/widgets/canvas.py" in names
    for name in DATA_FILES:
        assert f"nbinterp/demo/{name}" in names
    assert not any(n.startswith(("tests/", "js/", "scripts/")) for n in names)
    shipped = zipfile.ZipFile(wheel).read("nbinterp/_js/canvas.js")
    assert shipped == (ROOT / "js" / "canvas.js").read_bytes()


def test_installed_wheel_finds_its_own_files(wheel, tmp_path):
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    package, js, model = (Path(p) for p in _locate(site, cwd=tmp_path))
    assert package == site / "nbinterp" / "__init__.py"
    assert js == site / "nbinterp" / "_js" / "canvas.js"
    assert model == site / "nbinterp" / "demo" / "digits_cnn.keras"


def test_source_tree_finds_js_folder(tmp_path):
    # what an editable install (pip install -e .) resolves to
    package, js, model = (Path(p) for p in _locate(ROOT, cwd=tmp_path))
    assert package == ROOT / "nbinterp" / "__init__.py"
    assert js == ROOT / "js" / "canvas.js"
    assert model == ROOT / "nbinterp" / "demo" / "digits_cnn.keras"


def test_js_path_prefers_packaged_copy_and_reports_missing(tmp_path, monkeypatch):
    import nbinterp._assets as assets

    pkg = tmp_path / "nbinterp"
    (pkg / "_js").mkdir(parents=True)
    (tmp_path / "js").mkdir()
    (pkg / "_js" / "x.js").write_text("packaged")
    (tmp_path / "js" / "x.js").write_text("source")
    (tmp_path / "js" / "y.js").write_text("source only")
    monkeypatch.setattr(assets, "_PACKAGE_DIR", pkg)
    assert assets.js_path("x.js") == pkg / "_js" / "x.js"
    assert assets.js_path("y.js") == tmp_path / "js" / "y.js"
    with pytest.raises(FileNotFoundError, match="missing.js"):
        assets.js_path("missing.js")


def test_canvas_widget_loads_the_module():
    from nbinterp.widgets.canvas import ImageCanvas

    esm = ImageCanvas._esm
    text = esm.read_text() if isinstance(esm, Path) else str(esm)
    assert "export default" in text and "nbinterp-canvas" in text


def test_public_functions_carry_type_hints_that_resolve():
    import typing

    import nbinterp

    for function in (nbinterp.attribute, nbinterp.maximize, nbinterp.top_activations, nbinterp.reconstruct,
                     nbinterp.Inspector.__init__, nbinterp.Inspector.activations, nbinterp.Inspector.kernel_response):
        hints = typing.get_type_hints(function)
        code = function.__code__
        named = code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]
        missing = [name for name in named if name != "self" and name not in hints]
        assert not missing and "return" in hints, (function.__qualname__, missing)


def test_test_modules_have_unique_basenames():
    """pytest imports test modules by basename (rootdir-relative sys.path), so two files with
    one name in tests/ and tests/browser/ break collection of the second."""
    from collections import Counter
    from pathlib import Path

    names = Counter(p.name for p in (Path(__file__).parent).rglob("test_*.py"))
    assert [name for name, count in names.items() if count > 1] == []
