"""A module imported where it is first used, for modules that rarely need a heavy package.

``pd = lazy.module("pandas", globals(), "pd")`` binds ``pd`` to a stand-in; the first
attribute read imports the package and rebinds the module-level name to it, so later reads
are ordinary attribute lookups. Type checkers should see the real import (under
``TYPE_CHECKING``).
"""

from __future__ import annotations

import importlib
from typing import Any


class _Deferred:
    def __init__(self, name: str, namespace: dict[str, Any], alias: str):
        self._name, self._namespace, self._alias = name, namespace, alias

    def __getattr__(self, attr: str) -> Any:
        real = importlib.import_module(self._name)
        self._namespace[self._alias] = real
        return getattr(real, attr)

    def __repr__(self) -> str:
        return f"<{self._name}, imported on first use>"


def module(name: str, namespace: dict[str, Any], alias: str) -> Any:
    """A stand-in for module ``name``, bound in ``namespace`` as ``alias`` (see above)."""
    return _Deferred(name, namespace, alias)
