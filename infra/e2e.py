"""`make e2e`: everything below the cluster, in the real images, on this machine.

1. An engine: docker, else podman (installed from Debian's packages by infra/engine.sh when
   this is Debian and root), with podman's Docker API on a socket in the run directory.
2. `make images`: both images, built here (infra/images.py).
3. The training pipeline with every step in the component image (kfp.local's DockerRunner,
   `kubetfx run --runner docker`), ending with a pushed model in the run's registry.
4. The server image serving that registry in a container, its ports published on loopback,
   answering a TF Serving REST predict and a KServe V2 infer, then real traffic for step 6.
5. The batch prediction pipeline in the component image, on the raw Palmer Penguins rows.
6. The monitoring pipeline in the component image, on the server container's request log.

Everything a step writes lands under one run directory (kfp mounts only the pipeline root):
e2e_run/ in the checkout, removed at the start of the next run. It belongs to the images'
user (uid 10001) when this runs as root; otherwise it is made writable for everyone (a run
directory only: nothing else changes mode). Phase times go to e2e_run/e2e.json.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "infra"))
import images  # noqa: E402  (infra/images.py, stdlib only)

from kubetfx.components.contracts import INFRA_FILE  # noqa: E402
from kubetfx.runners.local import IMAGE_UID  # noqa: E402  (the images' user)

RUN = ROOT / "e2e_run"
MODEL = "penguins"
ROW = {
    "bill_length_mm": 39.1,
    "bill_depth_mm": 18.7,
    "flipper_length_mm": 181,
    "body_mass_g": 3750,
    "island": "Torgersen",
    "sex": "male",
    "year": 2007,
}


class E2EFailed(Exception):
    pass


def say(text: str) -> None:
    print(f"\n== e2e: {text}", flush=True)


def engine() -> str:
    try:
        return images.find_engine()
    except images.EngineError as e:
        if not Path("/etc/debian_version").exists() or os.geteuid() != 0:
            raise E2EFailed(str(e)) from e
    say("no container engine: installing podman from Debian's packages (infra/engine.sh)")
    subprocess.run(["bash", str(ROOT / "infra" / "engine.sh"), "install"], check=True)
    return images.find_engine()


def run_dir(path: Path = RUN) -> None:
    """An empty directory the images' user can write: theirs when this runs as root, else
    writable for everyone (this directory only)."""
    if path.exists():
        subprocess.run(["rm", "-rf", str(path)], check=True)  # files of uid 10001
    path.mkdir(parents=True)
    if os.geteuid() == 0:
        os.chown(path, IMAGE_UID, IMAGE_UID)
    else:
        path.chmod(0o777)


def docker_api(engine_name: str, socket: Path = ROOT / ".e2e-podman.sock"):
    """podman's Docker-compatible API on `socket`, set as DOCKER_HOST for this process and its
    children; the service process (None for docker, whose daemon is the API). The
    infra_validate step's container reaches it as the images' user (with the socket's group,
    kubetfx/runners/local.py), so as root the socket is given to that group (0660): podman
    creates it 0600. Docker's own socket is group `docker`, given the same way."""
    if engine_name == "docker":
        return None
    socket.unlink(missing_ok=True)
    service = subprocess.Popen(
        ["podman", "system", "service", "--time=0", f"unix://{socket}"],
        env=images.engine_env("podman"),
    )
    for _ in range(100):
        if socket.exists():
            if os.geteuid() == 0:
                os.chown(socket, 0, IMAGE_UID)
                socket.chmod(0o660)
            os.environ["DOCKER_HOST"] = f"unix://{socket}"
            return service
        time.sleep(0.1)
    service.kill()
    raise E2EFailed("podman system service did not create its socket within 10 s")


def kubetfx(*args: str) -> None:
    command = [str(ROOT / ".venv" / "bin" / "kubetfx"), *args]
    print("+ " + " ".join(command), flush=True)
    if subprocess.run(command, cwd=RUN).returncode != 0:
        raise E2EFailed(f"`kubetfx {args[0]}` in the component image failed (see above)")


def write_config(components: str, server: str) -> Path:
    config = RUN / "config.yaml"
    config.write_text(
        f"pipeline_root: {RUN}\n"
        f"reference_root: {RUN}/references\n"
        "runner: docker\n"
        f"images: {{components: {components}, server: {server}}}\n"
        f"push: {{registry: {RUN}/model_registry}}\n"
        f"serving: {{request_log: {{dir: {RUN}/serving_logs, sample_rate: 1.0}}}}\n"
        f"monitor: {{output_dir: {RUN}/monitoring, window: 1h}}\n"
    )
    return config


def serve(engine_name: str, server_image: str) -> None:
    """The server image on the registry the pipeline pushed to: REST predict, V2 infer, then
    every raw row once (the monitoring pipeline's traffic)."""
    from kubetfx.components.ingest.core import builtin_penguins_path
    from kubetfx.serving.process import free_port, request

    port, grpc_port = free_port(), free_port()
    name = f"kubetfx-e2e-server-{os.getpid()}"
    command = [
        engine_name, "run", "--detach", "--rm", "--name", name,
        "--publish", f"127.0.0.1:{port}:8080", "--publish", f"127.0.0.1:{grpc_port}:8500",
        "--volume", f"{RUN}/model_registry:/registry:ro",
        "--volume", f"{RUN}:{RUN}",
        server_image, "--registry", "/registry", "--model", MODEL,
        "--log-dir", f"{RUN}/serving_logs",
    ]  # fmt: skip
    print("+ " + " ".join(command), flush=True)
    env = images.engine_env(engine_name)
    subprocess.run(command, check=True, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if request("GET", f"{url}/v2/models/{MODEL}/ready", timeout=5)[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise E2EFailed(f"the server container was not ready within 180 s at {url}")
            time.sleep(1)
        status, _, body = request("POST", f"{url}/v1/models/{MODEL}:predict", {"instances": [ROW]})
        species = ("Adelie", "Chinstrap", "Gentoo")
        if status != 200 or body["predictions"][0]["classes"] not in species:
            raise E2EFailed(f"TF Serving REST predict answered {status}: {body}")
        print(f"TF Serving REST predict: {body['predictions'][0]['classes']}")
        types = {str: "BYTES", int: "INT64", float: "FP64"}
        v2 = {
            "inputs": [
                {"name": k, "shape": [1], "datatype": types[type(v)], "data": [v]}
                for k, v in ROW.items()
            ]
        }
        status, _, body = request("POST", f"{url}/v2/models/{MODEL}/infer", v2)
        outputs = {o["name"]: o["data"] for o in body.get("outputs", [])}
        if status != 200 or "classes" not in outputs:
            raise E2EFailed(f"KServe V2 infer answered {status}: {body}")
        print(f"KServe V2 infer: {outputs['classes']}")
        with open(builtin_penguins_path()) as f:
            rows = list(csv.DictReader(f))
        sent = 0
        for row in rows:
            instance = {k: _typed(v) for k, v in row.items() if k != "species"}
            answer = request("POST", f"{url}/v1/models/{MODEL}:predict", {"instances": [instance]})
            if answer[0] != 200:
                raise E2EFailed(f"row {instance} answered {answer[0]}: {answer[2]}")
            sent += 1
        print(f"{sent} rows answered, one request each (the monitoring window's traffic)")
    except BaseException:
        subprocess.run([engine_name, "logs", name], env=env)
        raise
    finally:
        subprocess.run([engine_name, "stop", "--time", "10", name], env=env, capture_output=True)


def infra_validated(run_root: Path) -> None:
    """The training run's infra_validate step served the candidate in the server image
    (its 'docker' mode, from inside its own container) and blessed it."""
    (result,) = run_root.glob(f"*/infra-validate/infra_blessing/{INFRA_FILE}")
    infra = json.loads(result.read_text())
    if infra.get("mode") != "docker" or not infra.get("blessed"):
        raise E2EFailed(f"infra validation did not bless the candidate in the server image {infra}")
    print(f"infra validation in the server image: {'; '.join(infra['reasons'])}")


def _typed(value: str):
    if value == "NA":  # the CSV's missing value: JSON null, as a client sends it
        return None
    try:
        return int(value)
    except ValueError:
        try:
            return float(value)
        except ValueError:
            return value


def main() -> int:
    times: dict[str, float] = {}

    def phase(name: str, call, *args):
        say(name)
        started = time.monotonic()
        result = call(*args)
        times[name] = round(time.monotonic() - started, 1)
        print(f"-- {name}: {times[name]} s", flush=True)
        return result

    service, sizes = None, {}
    try:
        engine_name = phase("container engine", engine)
        run_dir()
        tag = images.default_tag()
        phase("images", _build, tag)
        names = {k: images.local_name(engine_name, k, tag) for k in images.DOCKERFILES}
        sizes = image_sizes(engine_name, names)
        print("image sizes: " + ", ".join(f"{k} {v / 1e9:.2f} GB" for k, v in sizes.items()))
        service = docker_api(engine_name)
        config = write_config(names["components"], names["server"])
        phase("training pipeline in the component image", kubetfx, "run", "--config", str(config))
        champion = RUN / "model_registry" / MODEL / "champion.json"
        if not champion.exists():
            raise E2EFailed(f"the training pipeline pushed no model: no {champion}")
        infra_validated(RUN)
        phase("server image: REST predict, V2 infer, traffic", serve, engine_name, names["server"])
        data = RUN / "rows.csv"
        from kubetfx.components.ingest.core import builtin_penguins_path

        shutil.copy(builtin_penguins_path(), data)
        phase(
            "batch prediction pipeline in the component image",
            kubetfx, "batch-predict", "--config", str(config),
            "--input", str(data), "--output", str(RUN / "batch"),
        )  # fmt: skip
        monitor = "monitoring pipeline in the component image"
        phase(monitor, kubetfx, "monitor", "--config", str(config))
    except (E2EFailed, images.EngineError, subprocess.CalledProcessError) as e:
        print(f"\ne2e FAILED: {e}", file=sys.stderr)
        return 1
    finally:
        if service is not None:
            service.terminate()
            service.wait(timeout=30)
        if RUN.exists():
            report = {"seconds": times, "image_bytes": sizes}
            (RUN / "e2e.json").write_text(json.dumps(report, indent=2))
    say("passed: " + ", ".join(f"{k} {v} s" for k, v in times.items()))
    return 0


def image_sizes(engine_name: str, names: dict[str, str]) -> dict[str, int]:
    sizes = {}
    for kind, name in names.items():
        inspect = [engine_name, "image", "inspect", "--format", "{{.Size}}", name]
        out = subprocess.run(
            inspect, capture_output=True, text=True, env=images.engine_env(engine_name)
        )
        sizes[kind] = int(out.stdout.strip() or 0)
    return sizes


def _build(tag: str) -> None:
    if images.main(["build", "--tag", tag]) != 0:
        raise E2EFailed("make images failed (see above)")


if __name__ == "__main__":
    sys.exit(main())
