"""Run in the serving environment (kserve installed) against a running server: KServe's own
REST client, protocol v1 and v2, as its users call it. Prints one JSON object of results.

    python kserve_clients.py URL MODEL [GRPC_TARGET]
"""

from __future__ import annotations

import asyncio
import json
import sys

import numpy as np
from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig

ROW = {
    "bill_depth_mm": ("FP32", 18.0),
    "bill_length_mm": ("FP32", 40.0),
    "body_mass_g": ("INT64", 3800),
    "flipper_length_mm": ("INT64", 190),
    "island": ("BYTES", "Dream"),
    "sex": ("BYTES", "male"),
    "year": ("INT64", 2008),
}
NUMPY = {"FP32": np.float32, "INT64": np.int64, "BYTES": np.object_}


def _request(model: str, binary: bool) -> InferRequest:
    inputs = []
    for name, (datatype, value) in ROW.items():
        tensor = InferInput(name, [2], datatype)
        tensor.set_data_from_numpy(np.array([value, value], dtype=NUMPY[datatype]), binary)
        inputs.append(tensor)
    return InferRequest(model_name=model, infer_inputs=inputs, request_id="kserve-client")


async def main(url: str, model: str, grpc_target: str | None = None) -> dict:
    out = {}
    v1 = InferenceRESTClient(RESTConfig(protocol="v1", timeout=30))
    out["v1_live"] = await v1.is_server_live(url)
    out["v1_model_ready"] = await v1.is_model_ready(url, model)
    rows = {"instances": [{k: v for k, (_, v) in ROW.items()}]}
    answer = await v1.infer(url, rows, model_name=model)
    out["v1_classes"] = [p["classes"] for p in answer["predictions"]]
    await v1.close()
    v2 = InferenceRESTClient(RESTConfig(protocol="v2", timeout=30))
    out["v2_live"] = await v2.is_server_live(url)
    out["v2_ready"] = await v2.is_server_ready(url)
    out["v2_model_ready"] = await v2.is_model_ready(url, model)
    for binary in (False, True):
        response = await v2.infer(url, _request(model, binary), model_name=model)
        outputs = {o.name: o for o in response.outputs}
        out[f"v2_{'binary' if binary else 'json'}"] = {
            "id": response.id,
            "classes": [str(c) for c in outputs["classes"].data],
            "probabilities": outputs["probabilities"].as_numpy().tolist(),
        }
    await v2.close()
    if grpc_target:
        out.update(await grpc_v2(grpc_target, model))
    return out


async def grpc_v2(target: str, model: str) -> dict:
    """KServe's own gRPC client (protocol v2) against the server's gRPC port."""
    from kserve import InferenceGRPCClient

    client = InferenceGRPCClient(target, timeout=30)
    out = {
        "grpc_live": await client.is_server_live(),
        "grpc_ready": await client.is_server_ready(),
        "grpc_model_ready": await client.is_model_ready(model),
    }
    response = await client.infer(_request(model, binary=False))
    outputs = {o.name: o for o in response.outputs}
    out["grpc_infer"] = {
        "id": response.id,
        "classes": [
            c.decode() if isinstance(c, bytes) else str(c) for c in outputs["classes"].data
        ],
    }
    await client.close()
    return out


if __name__ == "__main__":
    target = sys.argv[3] if len(sys.argv) > 3 else None
    print(json.dumps(asyncio.run(main(sys.argv[1], sys.argv[2], target))))
