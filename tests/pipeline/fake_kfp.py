"""A fake Kubeflow Pipelines API: the KFP v2beta1 REST endpoints kfp.Client uses, served on
127.0.0.1 by the standard library, recording every request it gets."""

from __future__ import annotations

import json
import threading
from email.parser import BytesParser
from email.policy import default as email_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

API = "/apis/v2beta1"


class FakeKfp:
    """The KFP v2beta1 endpoints kfp.Client uses, recording every request it gets."""

    def __init__(self, final_state="SUCCEEDED", token=None, pipelines=()):
        self.requests: list[dict] = []
        self.final_state, self.token = final_state, token
        self.pipelines = {f"pipeline-{i}": name for i, name in enumerate(pipelines)}
        self.versions: dict[str, list[dict]] = {pid: [] for pid in self.pipelines}
        self.experiments: dict[str, str] = {}
        self.run_polls = 0
        # Past runs and recurring runs, for `kubetfx runs` and `kubetfx schedules`.
        self.past_runs = {
            "run-0": {
                "run_id": "run-0", "display_name": "kubetfx-training-abc-1", "state": "FAILED",
                "created_at": "2026-12-06T03:00:00Z",
                "pipeline_version_reference": {"pipeline_version_id": "pv-1"},
                "error": {"message": "task train failed"},
            },
        }  # fmt: skip
        self.recurring = {
            "recurring-1": {
                "recurring_run_id": "recurring-1", "display_name": "kubetfx-training-schedule",
                "status": "ENABLED", "created_at": "2026-12-01T00:00:00Z",
                "trigger": {"cron_schedule": {"cron": "0 0 3 * * *"}},
            },
        }  # fmt: skip

    def named(self, method: str, suffix: str) -> list[dict]:
        return [r for r in self.requests if r["method"] == method and r["path"] == API + suffix]

    def answer(self, method: str, path: str, query: dict, body) -> tuple[int, dict]:
        route = path.removeprefix(API)
        if route == "/healthz":
            return 200, {"multi_user": False}
        if method == "GET" and route == "/pipelines":
            name = json.loads(query["filter"][0])["predicates"][0]["stringValue"]
            found = [{"pipeline_id": p, "display_name": n} for p, n in self.pipelines.items()]
            return 200, {"pipelines": [p for p in found if p["display_name"] == name]}
        if route == "/pipelines/upload":
            pid = f"pipeline-{len(self.pipelines)}"
            self.pipelines[pid] = query["name"][0]
            self.versions[pid] = [
                {"pipeline_version_id": f"{pid}-v0", "display_name": query["name"][0]}
            ]
            return 200, {"pipeline_id": pid, "display_name": query["name"][0]}
        if route == "/pipelines/upload_version":
            pid = query["pipelineid"][0]
            version = {"pipeline_version_id": f"{pid}-v{len(self.versions[pid])}"}
            self.versions[pid].append({**version, "display_name": query["name"][0]})
            return 200, {"pipeline_id": pid, **version, "display_name": query["name"][0]}
        if method == "GET" and route.endswith("/versions"):
            versions = self.versions[route.split("/")[2]]
            if "filter" in query:
                name = json.loads(query["filter"][0])["predicates"][0]["stringValue"]
                versions = [v for v in versions if v["display_name"] == name]
            return 200, {"pipeline_versions": versions[::-1]}
        if method == "GET" and route == "/experiments":
            name = json.loads(query["filter"][0])["predicates"][0]["stringValue"]
            found = [{"experiment_id": e, "display_name": n} for e, n in self.experiments.items()]
            return 200, {"experiments": [e for e in found if e["display_name"] == name]}
        if method == "POST" and route == "/experiments":
            eid = f"experiment-{len(self.experiments)}"
            self.experiments[eid] = body["display_name"]
            return 200, {"experiment_id": eid, "display_name": body["display_name"]}
        if method == "POST" and route == "/runs":
            return 200, {
                "run_id": "run-1",
                "display_name": body["display_name"],
                "state": "PENDING",
            }
        if method == "GET" and route == "/runs/run-1":
            return 200, self.run()
        if method == "GET" and route == "/runs":
            return 200, {"runs": list(self.past_runs.values()), "total_size": len(self.past_runs)}
        if route.startswith("/runs/") and route.split("/")[2].split(":")[0] in self.past_runs:
            run = self.past_runs[route.split("/")[2].split(":")[0]]
            if method == "POST" and route.endswith(":terminate"):
                run["state"] = "CANCELING"
                return 200, {}
            return 200, run
        if method == "GET" and route == "/recurringruns":
            return 200, {"recurringRuns": list(self.recurring.values())}
        if route.startswith("/recurringruns/"):
            rid, _, action = route.split("/")[2].partition(":")
            if rid not in self.recurring:
                return 404, {"error": f"recurring run {rid} not found", "code": 5}
            if method == "DELETE":
                del self.recurring[rid]
            elif action in ("enable", "disable"):
                self.recurring[rid]["status"] = "ENABLED" if action == "enable" else "DISABLED"
            return 200, {}
        if method == "POST" and route == "/recurringruns":
            return 200, {"recurring_run_id": "recurring-1", "display_name": body["display_name"]}
        return 404, {"error": f"no route {method} {path}"}

    def run(self) -> dict:
        """RUNNING on the first look, then the final state; a failed run failed in train."""
        self.run_polls += 1
        done = self.run_polls > 1
        train = {"SUCCEEDED": "SUCCEEDED", "FAILED": "FAILED"}[self.final_state]
        tasks = [
            {"display_name": "root", "state": "RUNNING"},
            {"display_name": "ingest", "state": "SUCCEEDED"},
            {"display_name": "train", "state": train if done else "RUNNING"},
        ]
        if done and train == "FAILED":
            tasks[2]["error"] = {"message": "OOMKilled: train used more than 16G"}
        state = self.final_state if done else "RUNNING"
        return {"run_id": "run-1", "state": state, "run_details": {"task_details": tasks}}


def _handler(fake: FakeKfp):
    class Handler(BaseHTTPRequestHandler):
        def _serve(self, method: str) -> None:
            url = urlparse(self.path)
            query = parse_qs(url.query)
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body, files = None, {}
            kind = self.headers.get("Content-Type", "")
            if kind.startswith("multipart/form-data"):
                message = BytesParser(policy=email_policy).parsebytes(
                    f"Content-Type: {kind}\r\n\r\n".encode() + raw
                )
                for part in message.iter_parts():
                    files[part.get_param("name", header="content-disposition")] = part.get_payload(
                        decode=True
                    ).decode()
            elif raw:
                body = json.loads(raw)
            auth = self.headers.get("Authorization")
            fake.requests.append(
                {"method": method, "path": url.path, "query": query, "auth": auth}
                | {"body": body, "files": files}
            )
            if fake.token and url.path != API + "/healthz" and auth != f"Bearer {fake.token}":
                status, answer = 401, {"error": "Unauthorized", "code": 16}
            else:
                status, answer = fake.answer(method, url.path, query, body)
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            self._serve("GET")

        def do_POST(self):
            self._serve("POST")

        def do_DELETE(self):
            self._serve("DELETE")

        def log_message(self, *args):
            pass

    return Handler


def serve(fake: FakeKfp) -> tuple[ThreadingHTTPServer, str]:
    """Serve `fake` on a free loopback port in a thread: (server, base URL)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"
