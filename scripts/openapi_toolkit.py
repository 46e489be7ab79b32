"""The one OpenAPI toolkit (podero_client/testing/_openapi.py), loaded by path.

The pipeline reads specs with the same rules as the fake server, but never imports the
package it is about to regenerate: importing ``podero_client`` would load the committed
``_generated`` (and fail when a new template name is already used in the hand-written layer).
``_openapi.py`` imports nothing from podero_client, so loading its file alone is enough.

    from openapi_toolkit import toolkit
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

SOURCE = Path(__file__).resolve().parent.parent / "podero_client" / "testing" / "_openapi.py"
_NAME = "podero_openapi_toolkit"


def _load() -> ModuleType:
    if _NAME in sys.modules:
        return sys.modules[_NAME]
    found = importlib.util.spec_from_file_location(_NAME, SOURCE)
    if found is None or found.loader is None:
        raise ImportError(f"cannot load {SOURCE}")
    module = importlib.util.module_from_spec(found)
    sys.modules[_NAME] = module  # before running it, as an import does (``from __future__`` annotations)
    found.loader.exec_module(module)
    return module


if TYPE_CHECKING:  # mypy reads the same file under its package name
    from podero_client.testing import _openapi as toolkit
else:
    toolkit = _load()

__all__ = ["SOURCE", "toolkit"]
