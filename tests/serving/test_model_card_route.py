"""GET /v1/models/{m}/versions/{v}/card against a real server process on loopback: the card
push wrote into a version, as JSON, HTML or Markdown; a clear 404 for anything else."""

from __future__ import annotations

import json

import pytest

from kubetfx.components.registry import ModelRegistry, card_file
from tests.serving.conftest import MODEL, running_server

CARD = {"schema_version": "0.0.2", "model_details": {"name": MODEL, "overview": "a card"}}
PAGE = "<!doctype html><html><body><h1>Model card: penguins</h1></body></html>"


@pytest.fixture(scope="module")
def cards(tmp_path_factory, server_python, penguins):
    _, paths = penguins
    root = tmp_path_factory.mktemp("cards")
    registry = ModelRegistry(str(root / "registry"), MODEL)
    with_card = registry.push(
        paths["model"],
        {"run": "carded"},
        version_files=lambda v: {
            card_file("json"): json.dumps({**CARD, "version": {"name": str(v)}}).encode(),
            card_file("html"): PAGE.encode(),
            card_file("md"): b"# Model card: penguins\n",
        },
    )
    without = registry.push(paths["model"], {"run": "before cards"}, make_champion=False)
    with running_server(server_python, root / "registry", root / "logs") as (_, client):
        yield client, with_card, without


def _card(client, version, query: str = "", headers: dict | None = None):
    return client.request(
        "GET", f"/v1/models/{MODEL}/versions/{version}/card{query}", None, headers
    )


def test_json_by_default_html_and_markdown_on_request(cards):
    client, version, _ = cards
    status, headers, body = _card(client, version)
    assert status == 200 and headers["content-type"].startswith("application/json")
    assert body == {**CARD, "version": {"name": str(version)}}
    assert headers["x-request-id"]
    for query, head in (("?format=html", None), ("", {"Accept": "text/html,*/*;q=0.8"})):
        status, headers, body = _card(client, version, query, head)
        assert status == 200 and headers["content-type"].startswith("text/html")
        assert body == PAGE
    status, headers, body = _card(client, version, "?format=md")
    assert status == 200 and headers["content-type"].startswith("text/markdown")
    assert body == "# Model card: penguins\n"


def test_a_clear_json_404_or_400_for_anything_else(cards):
    client, version, without = cards
    status, headers, body = _card(client, without)
    assert status == 404 and headers["content-type"] == "application/json"
    assert body["error"] == (
        f"version {without} of model 'penguins' has no model card: it was pushed before push "
        "wrote cards (or by hand); push the model again to get one"
    )
    status, _, body = _card(client, 20990101000000)
    assert status == 404
    assert body["error"] == "version 20990101000000 of model 'penguins' is not in the registry"
    status, _, body = client.request("GET", f"/v1/models/nope/versions/{version}/card")
    assert status == 404 and "Could not find any versions of model" in body["error"]
    status, _, body = _card(client, "abc")
    assert status == 400 and "error" in body
    status, _, body = _card(client, version, "?format=pdf")
    assert (
        status == 400 and body["error"] == "format must be one of ['html', 'json', 'md'], got 'pdf'"
    )
    status, _, _ = client.request("POST", f"/v1/models/{MODEL}/versions/{version}/card", {})
    assert status == 405
