"""The bridge sends exactly the documents in graphql/operations/phone/, and a wheel carries them."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import httpx

from nfc_bridge.portal import persisted
from nfc_bridge.portal.client import PortalClient


def test_the_documents_are_the_files(repo_root: Path) -> None:
    folder = repo_root / "graphql" / "operations" / "phone"
    assert persisted.operations_folder() == folder
    for name in persisted.SENT:
        assert persisted.document(name) == (folder / f"{name}.graphql").read_text(encoding="utf-8")


def test_the_client_sends_each_document_as_it_is(repo_root: Path) -> None:
    sent: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content)["query"])
        return httpx.Response(200, json={"data": {}})

    client = PortalClient("http://portal.test", transport=httpx.MockTransport(answer))
    try:
        for name in persisted.SENT:
            client.graphql(name, {})
    finally:
        client.close()
    folder = repo_root / "graphql" / "operations" / "phone"
    assert sent == [(folder / f"{name}.graphql").read_bytes().decode("utf-8") for name in persisted.SENT]


def test_a_wheel_carries_the_documents_as_package_data(repo_root: Path) -> None:
    setuptools = tomllib.loads((repo_root / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    assert setuptools["package-dir"][persisted.PACKAGED_OPERATIONS] == "graphql/operations/phone"
    assert setuptools["package-data"][persisted.PACKAGED_OPERATIONS] == ["*.graphql"]
    # setuptools builds only the packages it finds as folders: the placeholder must stay, holding no documents.
    placeholder = repo_root / "nfc_bridge" / "portal" / "operations"
    assert [path.name for path in placeholder.iterdir()] == ["README.md"]
