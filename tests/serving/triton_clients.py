"""Run in the dev environment (tritonclient installed) against a running server: NVIDIA
Triton's own HTTP and gRPC clients, the KServe V2 clients most V2 users have, called as their
documentation shows. Prints one JSON object of results.

    python triton_clients.py HTTP_HOST:PORT GRPC_HOST:PORT MODEL
"""

from __future__ import annotations

import json
import sys

import numpy as np
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient

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
OUTPUTS = ("classes", "probabilities")


def _classes(array) -> list[str]:
    return [c.decode() if isinstance(c, bytes) else str(c) for c in array.reshape(-1)]


def http(url: str, model: str) -> dict:
    client = httpclient.InferenceServerClient(url=url)
    out = {
        "live": client.is_server_live(),
        "ready": client.is_server_ready(),
        "model_ready": client.is_model_ready(model),
        "inputs": sorted(i["name"] for i in client.get_model_metadata(model)["inputs"]),
    }
    for binary in (False, True):
        inputs = []
        for name, (datatype, value) in ROW.items():
            tensor = httpclient.InferInput(name, [2], datatype)
            tensor.set_data_from_numpy(np.array([value] * 2, dtype=NUMPY[datatype]), binary)
            inputs.append(tensor)
        outputs = [httpclient.InferRequestedOutput(o, binary_data=binary) for o in OUTPUTS]
        result = client.infer(model, inputs, outputs=outputs, request_id="triton-http")
        out["binary" if binary else "json"] = {
            "id": result.get_response()["id"],
            "classes": _classes(result.as_numpy("classes")),
            "probabilities": result.as_numpy("probabilities").tolist(),
        }
    client.close()
    return out


def grpc(target: str, model: str) -> dict:
    client = grpcclient.InferenceServerClient(url=target)
    out = {
        "live": client.is_server_live(),
        "ready": client.is_server_ready(),
        "model_ready": client.is_model_ready(model),
        "inputs": sorted(i.name for i in client.get_model_metadata(model).inputs),
    }
    inputs = []
    for name, (datatype, value) in ROW.items():
        tensor = grpcclient.InferInput(name, [2], datatype)
        tensor.set_data_from_numpy(np.array([value] * 2, dtype=NUMPY[datatype]))
        inputs.append(tensor)
    outputs = [grpcclient.InferRequestedOutput(o) for o in OUTPUTS]
    result = client.infer(model, inputs, outputs=outputs, request_id="triton-grpc")
    out["infer"] = {
        "id": result.get_response().id,
        "classes": _classes(result.as_numpy("classes")),
        "probabilities": result.as_numpy("probabilities").tolist(),
    }
    client.close()
    return out


if __name__ == "__main__":
    url, target, model = sys.argv[1:4]
    print(json.dumps({"http": http(url, model), "grpc": grpc(target, model)}))
