"""File access that works the same on local disk and on gs:// (or any tf.io.gfile scheme).

Local paths use the standard library, so light commands (config, generate) never import
TensorFlow; remote paths go through tf.io.gfile, imported on first use.
"""

from __future__ import annotations

import glob as _glob
import os
import shutil
from typing import IO


def is_remote(path: str) -> bool:
    return "://" in path and not path.startswith("file://")


def _local(path: str) -> str:
    return path[len("file://") :] if path.startswith("file://") else path


def _gfile():
    import tensorflow as tf

    return tf.io.gfile


def join(base: str, *parts: str) -> str:
    return "/".join([base.rstrip("/"), *parts]) if is_remote(base) else os.path.join(base, *parts)


def open_file(path: str, mode: str = "r") -> IO:
    if is_remote(path):
        return _gfile().GFile(path, mode)
    path = _local(path)
    if any(m in mode for m in "wa"):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    return open(path, mode)


def read_text(path: str) -> str:
    with open_file(path) as f:
        return f.read()


def read_bytes(path: str) -> bytes:
    with open_file(path, "rb") as f:
        return f.read()


def write_text(path: str, text: str) -> None:
    with open_file(path, "w") as f:
        f.write(text)


def write_bytes(path: str, data: bytes) -> None:
    with open_file(path, "wb") as f:
        f.write(data)


def exists(path: str) -> bool:
    return _gfile().exists(path) if is_remote(path) else os.path.exists(_local(path))


def makedirs(path: str) -> None:
    if is_remote(path):
        _gfile().makedirs(path)
    else:
        os.makedirs(_local(path), exist_ok=True)


def glob(pattern: str) -> list[str]:
    if is_remote(pattern):
        return sorted(_gfile().glob(pattern))
    return sorted(_glob.glob(_local(pattern)))


def listdir(path: str) -> list[str]:
    return _gfile().listdir(path) if is_remote(path) else os.listdir(_local(path))


def rmtree(path: str) -> None:
    if is_remote(path):
        _gfile().rmtree(path)
    else:
        shutil.rmtree(_local(path))


def size(path: str) -> int:
    return _gfile().stat(path).length if is_remote(path) else os.path.getsize(_local(path))


def mtime_ns(path: str) -> int:
    """When the file was last written (an object's creation time on a bucket)."""
    if is_remote(path):
        return int(_gfile().stat(path).mtime_nsec)
    return os.stat(_local(path)).st_mtime_ns


def tree_size(path: str) -> int:
    """Bytes of every file under a directory (or of one file)."""
    if not is_remote(path):
        local = _local(path)
        if os.path.isfile(local):
            return os.path.getsize(local)
        return sum(
            os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(local) for f in files
        )
    gfile = _gfile()
    if not gfile.isdir(path):
        return gfile.stat(path).length
    return sum(gfile.stat(join(d, f)).length for d, _, files in gfile.walk(path) for f in files)


def copy(src: str, dst: str) -> None:
    """Copy one file, replacing dst."""
    if is_remote(src) or is_remote(dst):
        _gfile().copy(src, dst, overwrite=True)
    else:
        os.makedirs(os.path.dirname(os.path.abspath(dst)), exist_ok=True)
        shutil.copyfile(_local(src), _local(dst))


def copy_tree(
    src: str, dst: str, last: str | None = None, extra: dict[str, bytes] | None = None
) -> None:
    """Copy a directory tree, plus `extra` files (relative path -> bytes, replacing the tree's
    file of that name); the file named `last` (e.g. saved_model.pb) is written at the end."""
    if not is_remote(src) and not is_remote(dst):
        ignore = shutil.ignore_patterns(last) if last else None
        shutil.copytree(_local(src), _local(dst), ignore=ignore, dirs_exist_ok=True)
    else:
        files = []
        for root, _, names in _gfile().walk(src):
            files += [join(root, n) for n in names if n != last]
        for path in files:
            target = join(dst, os.path.relpath(path, src))
            makedirs(os.path.dirname(target))
            _gfile().copy(path, target, overwrite=True)
    for relative, data in (extra or {}).items():
        target = join(dst, relative)
        makedirs(os.path.dirname(target))
        write_bytes(target, data)
    if last:
        if is_remote(src) or is_remote(dst):
            _gfile().copy(join(src, last), join(dst, last), overwrite=True)
        else:
            shutil.copyfile(os.path.join(_local(src), last), os.path.join(_local(dst), last))


def replace_file(src: str, dst: str) -> None:
    """Move src over dst: atomic on local disk (os.replace), a copy+delete on object stores."""
    if is_remote(src) or is_remote(dst):
        _gfile().rename(src, dst, overwrite=True)
    else:
        os.replace(_local(src), _local(dst))


def remove(path: str) -> None:
    if is_remote(path):
        _gfile().remove(path)
    else:
        os.remove(_local(path))
