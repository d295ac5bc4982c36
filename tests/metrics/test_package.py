"""The public API of gwapbench.metrics (`__all__`, resolved on first use) and its import-light registry."""

from __future__ import annotations

import subprocess
import sys
import types

import gwapbench.metrics as metrics


def _run(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout.strip()


def test_every_public_name_resolves_to_its_object():
    for name in metrics.__all__:
        value = getattr(metrics, name)
        assert not isinstance(value, types.ModuleType), name
    assert "_kernels" not in metrics.__all__ and not any(name.startswith("_") for name in metrics.__all__)


def test_the_box_registry_loads_without_numpy_or_torch():
    loaded = _run("import sys, gwapbench.metrics.box_methods as b; "
                  "print(b.BOX_METHODS, [m for m in ('numpy', 'torch') if m in sys.modules])")
    assert loaded == "('largest_component', 'cam_legacy') []"


def test_pxap_stays_the_function_after_its_submodule_is_imported():
    kinds = _run("import gwapbench.metrics.pxap; from gwapbench.metrics.pxap import pxap_curve; "
                 "from gwapbench.metrics import pxap; print(type(pxap).__name__)")
    assert kinds == "function"
