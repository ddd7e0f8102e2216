"""No training step's process imports a heavy library before its work needs it.

kfp runs a step as `python -m kfp.dsl.executor_main` on the component function's source:
the process imports kfp's runtime, then the modules the function's body imports, then
works. TensorFlow, TFDV, tf.Transform, TFMA and Beam each take seconds to import in every
step that loads them (bench/pipeline.py), so the cores import them inside the functions
that use them, and a step that only reads a file never pays for one.
"""

from __future__ import annotations

import ast
import inspect
import json
import os
import subprocess
import sys
import textwrap

from kubetfx.pipelines.training import STAGES

HEAVY = (
    "tensorflow",
    "tensorflow_data_validation",
    "tensorflow_transform",
    "tensorflow_model_analysis",
    "apache_beam",
    "tfx_bsl",
    "keras",
    "tf_keras",
    "google.cloud.aiplatform",
)

# Run in a fresh interpreter: each step's imports in turn, as its process would run them;
# what each adds to the heavy modules already loaded is put down to that step.
SCRIPT = """
import importlib, json, sys
from kfp.dsl import executor_main  # what kfp's step command loads first
steps, heavy = json.loads(sys.argv[1]), json.loads(sys.argv[2])
loaded, found = set(), {}
for step, (module, imports) in steps.items():
    importlib.import_module(module)
    exec(imports, {})
    now = {name for name in heavy if name in sys.modules}
    found[step], loaded = sorted(now - loaded), loaded | now
print(json.dumps(found))
"""


def body_imports(fn) -> str:
    """The import statements a component function's body starts with (the rest is work)."""
    body = ast.parse(textwrap.dedent(inspect.getsource(fn))).body[0].body
    starts = body[1:] if isinstance(body[0], ast.Expr) else body  # after a docstring
    lines = []
    for node in starts:
        if not isinstance(node, ast.Import | ast.ImportFrom):
            break
        lines.append(ast.unparse(node))
    return "\n".join(lines)


def test_no_step_imports_a_heavy_library_before_its_work():
    steps = {fn.__name__: (fn.__module__, body_imports(fn)) for fn in STAGES}
    assert all(imports for _, imports in steps.values())  # the reader found the imports
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, json.dumps(steps), json.dumps(HEAVY)],
        env={**os.environ, "_KFP_RUNTIME": "true"},  # as kfp's step command sets it
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(found) == set(steps)
    assert {step: libs for step, libs in found.items() if libs} == {}, (
        "these steps import a heavy library before their work: import it inside the "
        "function that uses it"
    )
