"""Every `from kubetfx... import ...` in the notebooks and the docs names something that exists.

The notebooks run in the slow suite; this catches a moved module in seconds."""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
IMPORT = re.compile(r"^\s*from (kubetfx[\w.]*) import ([\w, ]+?)(?:\s+as\s+\w+)?\s*$", re.M)


def _sources() -> dict[str, str]:
    texts = {}
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(notebook.read_text())["cells"]
        texts[notebook.name] = "\n".join("".join(c["source"]) for c in cells)
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        texts[doc.name] = doc.read_text()
    return texts


IMPORTS = sorted(
    {
        (name, module, what)
        for name, text in _sources().items()
        for module, what in IMPORT.findall(text)
    }
)


def test_the_docs_import_something():
    assert len(IMPORTS) >= 5  # the regex still matches the way the docs write imports


@pytest.mark.parametrize(("source", "module", "names"), IMPORTS)
def test_import_resolves(source, module, names):
    imported = importlib.import_module(module)
    for name in (n.strip() for n in names.split(",")):
        if not hasattr(imported, name):
            importlib.import_module(f"{module}.{name}")  # a submodule
