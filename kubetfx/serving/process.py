"""Start the model server as a separate process from the pipeline environment, and talk to it.

The server needs its own environment (kserve requires pandas >= 2.2, TFDV forbids it), so
infra validation, the tests and the benchmark all launch it the same way: the serving
environment's Python, `-m kubetfx.serving`, a free loopback port. The server imports this
very kubetfx package, and nothing else of the pipeline environment: its path holds only a link
to the package (when kubetfx is installed, the package's parent is site-packages, whose
pandas and protobuf would shadow the serving environment's). Standard library only.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import pathlib
import signal
import socket
import subprocess
import tempfile
import time
import urllib.parse

from kubetfx.errors import ConfigError, ServerFailed

PACKAGE = pathlib.Path(__file__).resolve().parents[1]  # this kubetfx package's directory
# The checkout when kubetfx runs from its source tree (an editable install, `make setup`);
# site-packages when it was installed (`pip install .`).
SOURCE_ROOT = PACKAGE.parent


def in_source_tree() -> bool:
    return (SOURCE_ROOT / "setup.py").is_file()


def serving_python(configured: str | None = None) -> str:
    """The serving environment's Python: config, then $KUBETFX_SERVING_PYTHON, then (from the
    source tree only) the `.venv-serving` that `make serving-setup` builds there."""
    path = configured or os.environ.get("KUBETFX_SERVING_PYTHON")
    if not path and not in_source_tree():
        raise ConfigError(
            f"infra_validate.server_python: not set, and this kubetfx is installed ({PACKAGE}) "
            "rather than run from its source tree, so there is no .venv-serving beside it. "
            "Set infra_validate.server_python (or $KUBETFX_SERVING_PYTHON) to the Python of the "
            "model server's environment: a venv installed from requirements/serving-lock.txt "
            "(tensorflow + kserve)"
        )
    path = path or str(SOURCE_ROOT / ".venv-serving" / "bin" / "python")
    if not os.access(path, os.X_OK):
        build = (
            "Run `make serving-setup` (builds .venv-serving from requirements/serving-lock.txt), "
            "or set"
            if in_source_tree()
            else "Set"
        )
        raise ConfigError(
            f"infra_validate.server_python: {path!r} is not an executable Python. {build} "
            "infra_validate.server_python (or $KUBETFX_SERVING_PYTHON) to the server's Python"
        )
    return path


def package_path() -> str:
    """A new directory holding only a link named `kubetfx` to this package: the server's
    import path. The caller removes it (ServerProcess.stop does)."""
    directory = tempfile.mkdtemp(prefix="kubetfx-server-path-")
    os.symlink(PACKAGE, os.path.join(directory, "kubetfx"))
    return directory


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Client:
    """A keep-alive HTTP/1.1 client. Error statuses are returned, not raised; a broken
    connection raises (never retried: a failed request must show)."""

    IDLE_SECONDS = 30  # reconnect after this long idle: well inside the server's keep-alive

    def __init__(self, url: str, timeout: float = 30):
        parts = urllib.parse.urlsplit(url)
        self._connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
        self._last = time.monotonic()

    def request(self, method: str, path: str, body=None, headers: dict | None = None):
        """(status, headers, parsed JSON or text)."""
        data = body if isinstance(body, bytes | None) else json.dumps(body).encode()
        head = {"Content-Type": "application/json", **(headers or {})}
        if time.monotonic() - self._last > self.IDLE_SECONDS:
            self._connection.close()
        self._last = time.monotonic()
        try:
            self._connection.request(method, path, body=data, headers=head)
            response = self._connection.getresponse()
            raw = response.read()
        except (http.client.HTTPException, OSError):
            self._connection.close()  # the next request reconnects
            raise
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = raw.decode(errors="replace")
        return response.status, {k.lower(): v for k, v in response.getheaders()}, parsed

    def close(self) -> None:
        self._connection.close()


def request(method: str, url: str, body=None, headers: dict | None = None, timeout: float = 30):
    """One request on a fresh connection: (status, headers, parsed JSON or text)."""
    parts = urllib.parse.urlsplit(url)
    client = Client(url, timeout)
    try:
        return client.request(
            method, parts.path + (f"?{parts.query}" if parts.query else ""), body, headers
        )
    finally:
        client.close()


class Server:
    """A model server somewhere (a process here, a container, a pod) and how to wait for it.
    Subclasses give `address()` (its URL, or None while it has none yet), `exited()` (why it
    stopped, or None while it runs) and `log_tail()`."""

    def address(self) -> str | None:
        raise NotImplementedError

    def exited(self) -> str | None:
        raise NotImplementedError

    def log_tail(self, lines: int = 20) -> str:
        raise NotImplementedError

    def predict(self, model: str, body: dict, timeout: float = 60) -> tuple[int, object]:
        """A TF Serving REST predict: (HTTP status, parsed answer)."""
        url = f"{self.address()}/v1/models/{model}:predict"
        status, _, answer = request("POST", url, body, timeout=timeout)
        return status, answer

    def wait_available(self, model: str, timeout: float, version: int | None = None) -> float:
        """Seconds until `model` (or that version of it) is AVAILABLE. Raises ServerFailed with
        the reason: the server exited, the version failed to load, or the time ran out."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            stopped = self.exited()
            if stopped is not None:
                raise ServerFailed(f"the model server {stopped}:\n" + self.log_tail())
            url, status, body = self.address(), 0, None
            if url:  # a pod has none until it is scheduled
                with contextlib.suppress(OSError):  # not listening yet
                    status, _, body = request("GET", f"{url}/v1/models/{model}", timeout=2)
            if status == 200:
                for row in body["model_version_status"]:
                    if version is not None and row["version"] != str(version):
                        continue
                    if row["state"] == "AVAILABLE":
                        return time.monotonic() - start
                    if row["state"] == "END":
                        raise ServerFailed(
                            f"version {row['version']} failed to load: "
                            f"{row['status']['error_message']}"
                        )
            time.sleep(0.2)
        raise ServerFailed(
            f"model {model!r} was not available within {timeout:g} s:\n" + self.log_tail()
        )


class ServerProcess(Server):
    """The model server in a subprocess on 127.0.0.1; stopped on exit from the `with`."""

    def __init__(self, python: str, args: list[str], log_path: str, port: int | None = None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        # -P: the working directory is not put on the path (relative arguments still mean
        # what they mean to the caller, whose working directory the server keeps).
        # gRPC on a free port of its own (never TF Serving's 8500: servers run side by side),
        # unless the arguments name one (the last --grpc-port wins).
        given = [args[i + 1] for i, a in enumerate(args[:-1]) if a == "--grpc-port"]
        self.grpc_port = int(given[-1]) if given else free_port()
        self.grpc_target = f"127.0.0.1:{self.grpc_port}"
        self._command = [python, "-P", "-m", "kubetfx.serving", "--host", "127.0.0.1"]
        self._command += ["--port", str(self.port), "--grpc-port", str(self.grpc_port), *args]
        self._process: subprocess.Popen | None = None
        self._path_dir: str | None = None

    def __enter__(self) -> ServerProcess:
        self._path_dir = package_path()
        env = {**os.environ, "PYTHONPATH": self._path_dir, "TF_CPP_MIN_LOG_LEVEL": "2"}
        try:
            with open(self.log_path, "ab") as log:
                self._process = subprocess.Popen(
                    self._command, stdout=log, stderr=subprocess.STDOUT, env=env
                )
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        if self._process and self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        if self._path_dir:
            os.unlink(os.path.join(self._path_dir, "kubetfx"))  # the link, not the package
            os.rmdir(self._path_dir)
            self._path_dir = None

    def log_tail(self, lines: int = 20) -> str:
        with open(self.log_path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])

    def address(self) -> str:
        return self.url

    def exited(self) -> str | None:
        if self._process is None or self._process.poll() is None:
            return None
        return f"exited with code {self._process.returncode}"
