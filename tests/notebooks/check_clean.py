"""Fail when a notebook is stored with outputs or execution counts (run by `make lint`).

    python tests/notebooks/check_clean.py notebooks [more paths...]

Outputs in git hide what changed, leak data and paths, and go stale; the notebooks are run
from scratch in `make test` instead. Clear them with `--fix` (or Jupyter's "Clear All Outputs").
"""

from __future__ import annotations

import json
import pathlib
import sys


def notebooks(paths: list[str]) -> list[pathlib.Path]:
    found = []
    for path in map(pathlib.Path, paths):
        found += sorted(path.rglob("*.ipynb")) if path.is_dir() else [path]
    return [p for p in found if ".ipynb_checkpoints" not in p.parts]


def problems(body: dict) -> list[str]:
    """One line per code cell with outputs or an execution count."""
    found = []
    for number, cell in enumerate(body.get("cells", []), start=1):
        if cell.get("cell_type") != "code":
            continue
        if cell.get("outputs"):
            found.append(f"cell {number} has outputs")
        if cell.get("execution_count") is not None:
            found.append(f"cell {number} has an execution count")
    return found


def clear(body: dict) -> dict:
    for cell in body.get("cells", []):
        if cell.get("cell_type") == "code":
            cell["outputs"], cell["execution_count"] = [], None
    return body


def main(argv: list[str]) -> int:
    fix = "--fix" in argv
    dirty = 0
    for path in notebooks([a for a in argv if a != "--fix"] or ["notebooks"]):
        body = json.loads(path.read_text())
        found = problems(body)
        if found and fix:
            path.write_text(json.dumps(clear(body), indent=1, ensure_ascii=False) + "\n")
            print(f"{path}: cleared")
        elif found:
            dirty += 1
            print(f"{path}: {'; '.join(found)}")
    if dirty:
        print(f"{dirty} notebook(s) stored with outputs: run `{sys.argv[0]} --fix` to clear them")
    return 1 if dirty else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
