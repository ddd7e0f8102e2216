"""`python -m kubetfx.serving`: run the model server (what `make serve` and the image run).

Runs in the serving environment (tensorflow + kserve), not the pipeline one: it imports only
the config model, the registry layout and this package.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from kubetfx.errors import ConfigError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kubetfx.serving", description=__doc__)
    parser.add_argument("--config", help="pipeline config YAML; its `serving` section is used")
    parser.add_argument("--registry", help="model registry root (default: serving.registry)")
    parser.add_argument("--host", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default serving.port, 8501)")
    parser.add_argument(
        "--grpc-port", type=int, help="gRPC port (default serving.grpc_port, 8500; 0: off)"
    )
    parser.add_argument("--model", action="append", help="serve only this model (repeatable)")
    parser.add_argument("--log-dir", help="request log directory (default serving_logs)")
    parser.add_argument("--log-rate", type=float, help="request log sample rate, 0 to 1")
    parser.add_argument("--challenger-percent", type=float, help="canary share, 0 to 100")
    parser.add_argument("--traffic-mode", choices=["canary", "shadow"])
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    from kubetfx.components.config_loader import load_config, localize

    overrides = {
        "serving.registry": args.registry,
        "serving.host": args.host,
        "serving.port": args.port,
        "serving.grpc_port": args.grpc_port,
        "serving.models": args.model,
        "serving.request_log.dir": args.log_dir,
        "serving.request_log.sample_rate": args.log_rate,
        "serving.traffic.challenger_percent": args.challenger_percent,
        "serving.traffic.mode": args.traffic_mode,
    }
    try:
        overrides.update(vertex_overrides(os.environ))
        cfg = localize(load_config(args.config, overrides)).serving
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    serve(cfg)
    return 0


def vertex_overrides(env) -> dict:
    """What Vertex AI tells a custom container (its AIP_* variables): the port to listen on,
    which wins over --port because Vertex probes only that one, and the health and predict
    paths to answer besides the server's own."""
    overrides = {
        "serving.health_route": env.get("AIP_HEALTH_ROUTE") or None,
        "serving.predict_route": env.get("AIP_PREDICT_ROUTE") or None,
    }
    port = env.get("AIP_HTTP_PORT")
    if port:
        if not port.isdigit():
            raise ConfigError(f"AIP_HTTP_PORT: expected a port number, got {port!r}")
        overrides["serving.port"] = int(port)
    return overrides


def serve(cfg) -> None:
    import uvicorn

    from kubetfx.serving.logs import RequestLog
    from kubetfx.serving.models import ModelManager
    from kubetfx.serving.server import create_app

    request_log = RequestLog(
        cfg.request_log.dir,
        cfg.request_log.sample_rate,
        max_queue=cfg.request_log.max_queue,
        degraded_seconds=cfg.request_log.degraded_seconds,
    )
    app = create_app(cfg, ModelManager(cfg), request_log)
    base = f"http://{cfg.host}:{cfg.port}"
    print(
        f"kubetfx model server on {base} (registry {cfg.registry}, polled every "
        f"{cfg.poll_seconds:g} s; request logs in {cfg.request_log.dir} at rate "
        f"{cfg.request_log.sample_rate:g})\n"
        f"  models:   curl {base}/v1/models\n"
        f"  status:   curl {base}/v1/models/MODEL\n"
        f"  predict:  curl -d @request.json {base}/v1/models/MODEL:predict\n"
        f"  ready:    curl {base}/v2/health/ready\n"
        f"  metrics:  curl {base}/metrics\n"
        + (
            f"  gRPC:     {cfg.host}:{cfg.grpc_port} (TF Serving PredictionService, KServe V2)"
            if cfg.grpc_port
            else "  gRPC:     off (serving.grpc_port 0)"
        )
        + (
            f"\n  Vertex:   GET {cfg.health_route}, POST {cfg.predict_route} ($AIP_*_ROUTE)"
            if cfg.health_route or cfg.predict_route
            else ""
        ),
        flush=True,
    )
    # Keep-alive longer than a load balancer's idle timeout, or it sends into closed sockets.
    uvicorn.run(
        app,
        host=cfg.host,
        port=cfg.port,
        log_level="warning",
        access_log=False,
        timeout_keep_alive=75,
    )


if __name__ == "__main__":
    sys.exit(main())
