"""Model versions in the emulator as the recorded service keeps them: lists paged with `$top`
(a model's versions listed with `$orderBy=createdtime desc&$top=1` answer one version and a
`nextLink` to the rest; the SDK's latest-version lookup reads the first page, its pager follows
`nextLink`), and a PUT on an existing version that archives or restores it (200, the stage
following) while its files stay fixed."""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from generator.emulator import Emulator, make_token, ml_client

WS_PATH = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/amlgen-emulator/"
    "providers/Microsoft.MachineLearningServices/workspaces/emulator-ws"
)
MODEL_URI = "azureml://registries/azureml/models/Phi-3-mini-4k-instruct/versions/15"


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    logging.disable(logging.WARNING)
    with Emulator(job_seconds=1.0, deploy_seconds=0.5) as emulator:
        yield emulator
    logging.disable(logging.NOTSET)


def _call(emu: Emulator, method: str, url: str, body: Any = None) -> tuple[int, Any]:
    target = url if url.startswith("http") else emu.url + url.lstrip("/")
    headers = {"Authorization": f"Bearer {make_token(emu.url, emu.secret)}"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    req = urllib.request.Request(target, data=data, method=method, headers=headers)
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.status, json.loads(resp.read() or b"{}")


def _register(emu: Emulator, name: str, versions: int) -> None:
    for ver in range(1, versions + 1):
        body = {"properties": {"modelType": "custom_model", "modelUri": MODEL_URI}}
        path = f"{WS_PATH}/models/{name}/versions/{ver}?api-version=2023-08-01-preview"
        assert _call(emu, "PUT", path, body)[0] == 201


def test_top_pages_model_versions_with_a_next_link(emu: Emulator) -> None:
    _register(emu, "paged", 3)
    url = (
        f"{WS_PATH}/models/paged/versions?api-version=2023-08-01-preview"
        "&$orderBy=createdtime%20desc&$top=2"
    )
    seen: list[str] = []
    pages = 0
    while url:
        status, body = _call(emu, "GET", url)
        assert status == 200
        assert len(body["value"]) <= 2
        seen += [v["name"] for v in body["value"]]
        url = body.get("nextLink", "")
        pages += 1
    assert (seen, pages) == (["3", "2", "1"], 2)
    # Without $top, one page and no nextLink (what the emulator always answered before).
    status, body = _call(
        emu, "GET", f"{WS_PATH}/models/paged/versions?api-version=2023-08-01-preview"
    )
    assert [v["name"] for v in body["value"]] == ["1", "2", "3"] and "nextLink" not in body


def test_the_sdk_reads_the_pages(emu: Emulator) -> None:
    _register(emu, "paged-sdk", 3)
    ml = ml_client(emu.url, emu.secret)
    assert ml.models.get("paged-sdk", label="latest").version == "3"
    pager = ml.models._model_versions_operation.list(
        name="paged-sdk",
        resource_group_name=ml.resource_group_name,
        workspace_name=ml.workspace_name,
        order_by="createdtime desc",
        top=1,
    )
    assert [v.name for v in pager] == ["3", "2", "1"]


def test_registry_version_lists_page_too(emu: Emulator) -> None:
    path = (
        "/mferp/managementfrontend/subscriptions/00000000-0000-0000-0000-000000000000/"
        "resourceGroups/rg/providers/Microsoft.MachineLearningServices/registries/azureml/"
        "components/chat_completion_pipeline/versions"
        "?api-version=2021-10-01-dataplanepreview&$top=2"
    )
    seen: list[str] = []
    url = path
    while url:
        status, body = _call(emu, "GET", url)
        assert status == 200 and len(body["value"]) <= 2
        seen += [v["name"] for v in body["value"]]
        url = body.get("nextLink", "")
    assert seen == ["0.0.82", "0.0.81", "0.0.51"]  # newest first, each once


def test_archive_and_restore_a_version_through_the_sdk(emu: Emulator) -> None:
    _register(emu, "archived", 2)
    ml = ml_client(emu.url, emu.secret)
    ml.models.archive("archived", version="1")
    got = ml.models.get("archived", version="1")
    assert got.stage == "Archived"
    assert [m.version for m in ml.models.list("archived")] == ["2"]  # ActiveOnly, as the SDK asks
    url = f"{WS_PATH}/models/archived/versions?api-version=2023-08-01-preview"
    archived = _call(emu, "GET", url + "&listViewType=ArchivedOnly")[1]["value"]
    assert [v["name"] for v in archived] == ["1"]
    assert [m.version for m in ml.models.list("archived", stage="Archived")] == []  # ActiveOnly
    assert [m.version for m in ml.models.list("archived", stage="Development")] == ["2"]
    ml.models.restore("archived", version="1")
    assert ml.models.get("archived", version="1").stage == "Development"
    assert sorted(m.version for m in ml.models.list("archived")) == ["1", "2"]


def test_a_versions_files_cannot_change(emu: Emulator) -> None:
    _register(emu, "fixed", 1)
    body = {"properties": {"modelType": "custom_model", "modelUri": MODEL_URI + "-other"}}
    path = f"{WS_PATH}/models/fixed/versions/1?api-version=2023-08-01-preview"
    with pytest.raises(urllib.error.HTTPError) as err:
        _call(emu, "PUT", path, body)
    assert err.value.code == 400
    assert json.loads(err.value.read())["error"]["message"] == "Asset paths cannot be updated."
