"""A user's module file (TFX's module_file): preprocessing_fn, build_model or run_fn."""

from __future__ import annotations

import importlib.util
import os
import sys
import tempfile

from kubetfx.components import fileio
from kubetfx.errors import ConfigError


def load_callable(spec: str, field: str):
    """`package.module:function` from the installed packages (a plug-in named in config)."""
    import importlib

    module_name, _, name = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise ConfigError(f"{field}: cannot import {module_name!r} ({e})") from e
    fn = getattr(module, name, None)
    if not callable(fn):
        raise ConfigError(f"{field}: {module_name!r} has no function {name}()")
    return fn


def load_module_fn(path: str, name: str, field: str):
    """A function from the user's module file (local or remote), like TFX's module_file."""
    if fileio.is_remote(path):
        local = os.path.join(tempfile.mkdtemp(), os.path.basename(path))
        fileio.copy(path, local)
        path = local
    if not os.path.exists(path):
        raise ConfigError(f"{field}: module file {path!r} does not exist")
    module_name = "kubetfx_user_" + os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    # Registered so that Beam can pickle the user's functions by reference.
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    fn = getattr(module, name, None)
    if not callable(fn):
        raise ConfigError(f"{field}: {path!r} must define a function {name}()")
    return fn
