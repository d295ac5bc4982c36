"""Package names imported on first use (PEP 562 module `__getattr__`), so that importing one light submodule
does not load the heavy ones (torch, numba) through the package's `__init__`.

A package lists `{submodule: (name, ...)}` and, for a name exported under another one, `{name: (submodule,
attribute)}`; `lazy_exports` returns its `__all__`, `__getattr__` and `__dir__`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping


def lazy_exports(package: str, sources: Mapping[str, tuple[str, ...]],
                 renamed: Mapping[str, tuple[str, str]] | None = None
                 ) -> tuple[list[str], Callable[[str], object], Callable[[], list[str]]]:
    """(`__all__`, `__getattr__`, `__dir__`) for `package`: each name of `sources[submodule]` (and each key of
    `renamed`) is imported from its submodule when first read and then kept in the package's namespace."""
    where = {name: (module, name) for module, names in sources.items() for name in names} | dict(renamed or {})
    public = sorted(where)
    namespace = importlib.import_module(package).__dict__

    def __getattr__(name: str) -> object:
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module, attribute = where[name]
        value = getattr(importlib.import_module(f"{package}.{module}"), attribute)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted([*namespace, *public])

    return public, __getattr__, __dir__
