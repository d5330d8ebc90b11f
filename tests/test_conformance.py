"""Conformance with recorded Azure ML traffic (issue #21.1): the runner on the shared
recordings (every difference reviewed in tests/conformance/accepted.yaml), and the runner's own
rules: shapes not values, malformed recordings reported and skipped, unreviewed differences
fail, the accepted file checked."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from generator.emulator.conformance import AcceptedError, locate, run
from generator.emulator.conformance.accepted import load as load_accepted
from generator.emulator.conformance.shape import compare_body, compare_headers

ROOT = Path(__file__).resolve().parent.parent
ACCEPTED = ROOT / "tests" / "conformance" / "accepted.yaml"
SCRIPT = ROOT / "scripts" / "conformance.py"
RECORDINGS = locate(Path("../shared/reference/recordings"), ROOT)
# More of the same public corpus, committed here (MANIFEST.tsv: source path and commit).
COMMITTED = ROOT / "tests" / "conformance" / "recordings"
WS = (
    "https://Sanitized.azure.com/subscriptions/00000000-0000-0000-0000-000000000/resourceGroups/"
    "00000/providers/Microsoft.MachineLearningServices/workspaces/00000"
)


@pytest.mark.slow
@pytest.mark.skipif(RECORDINGS is None, reason="no shared recordings folder here")
def test_the_shared_recordings_conform() -> None:
    assert RECORDINGS is not None
    report = run(RECORDINGS, ACCEPTED)
    unaccepted = [f"{o.file}#{o.index} {o.operation}: {d.text()}" for o, d in report.unaccepted()]
    assert unaccepted == []
    assert report.malformed == []
    assert report.compared and len(report.compared) > len(report.skipped)
    # Every reviewed difference is one these recordings or the committed ones show (no stale
    # entry kept around).
    assert set(report.accepted) == report.used | run(COMMITTED, ACCEPTED).used
    ops = {o.operation for o in report.compared}
    wanted = {"job.put.finetuning", "job.put.pipeline", "job.cancel", "deployment.put"}
    wanted |= {"operation.status", "endpoint.listKeys", "compute.put", "model.put"}
    wanted |= {"datastore.get", "registry.discovery", "workspace.get"}
    assert wanted <= ops, wanted - ops
    assert report.lines()[-1].startswith(f"conformance: {len(report.compared)} operations")


def test_the_committed_recordings_conform() -> None:
    """Recordings the shared set lacks: a model's latest-version lookup paged by the service
    (nextLink), archive and restore by PUT on the version, a stage filter, a pipeline created
    on 2023's api-versions and hosts (its later update PUT is skipped: amlgen never updates a
    submitted job), one refused for its registry component, and
    fine-tuning jobs with queue settings or instance types. In-process, no server."""
    report = run(COMMITTED, ACCEPTED)
    unaccepted = [f"{o.file}#{o.index} {o.operation}: {d.text()}" for o, d in report.unaccepted()]
    assert unaccepted == []
    assert report.malformed == []
    listed = (COMMITTED / "MANIFEST.tsv").read_text(encoding="utf-8").splitlines()[1:]
    files = {line.split("\t")[0] for line in listed}
    assert {o.file for o in report.compared} == files
    ops = {o.operation for o in report.compared}
    assert {"model.versions.list", "model.put", "job.put.pipeline", "job.get.finetuning"} <= ops
    for line in listed:  # byte for byte as at the commit the manifest names
        local, _repo, commit, entries, size = line.split("\t")
        data = (COMMITTED / local).read_bytes()
        assert (len(data), len(json.loads(data)["Entries"])) == (int(size), int(entries))
        assert len(commit) == 40


# --- the runner's rules, on recordings written here ---------------------------------------------


def _recording(folder: Path, name: str, entries: Any) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    text = entries if isinstance(entries, str) else json.dumps({"Entries": entries})
    path.write_text(text, encoding="utf-8")
    return path


def _workspace_get(body: dict[str, Any]) -> dict[str, Any]:
    return {
        "RequestUri": f"{WS}?api-version=2024-10-01-preview",
        "RequestMethod": "GET",
        "RequestHeaders": {},
        "RequestBody": None,
        "StatusCode": 200,
        "ResponseHeaders": {"Content-Type": "application/json"},
        "ResponseBody": body,
    }


def test_malformed_recordings_are_reported_and_skipped(tmp_path: Path) -> None:
    _recording(tmp_path, "a/not-json.json", "{ this is not json")
    _recording(tmp_path, "b/no-entries.json", json.dumps({"Variables": {}}))
    _recording(tmp_path, "c/bad-entries.json", [{"RequestUri": WS, "RequestMethod": "GET"}, 7])
    report = run(tmp_path, ACCEPTED)
    lines = [m.text() for m in report.malformed]
    assert lines == [
        lines[0],
        "b/no-entries.json: malformed recording: no `Entries` list (not a test-proxy recording)",
        "c/bad-entries.json#0: malformed recording: StatusCode: expected int, found nothing",
        "c/bad-entries.json#1: malformed recording: an entry must be an object, found int",
    ]
    assert lines[0].startswith("a/not-json.json: malformed recording: not JSON:")
    assert report.ok and report.compared == []
    assert (
        report.lines()[-1] == "conformance: 0 operations compared, 0 conform, 0 differ, 0 skipped"
    )


@pytest.mark.slow
def test_an_unreviewed_difference_fails_and_a_good_entry_beside_a_bad_one_is_compared(
    tmp_path: Path,
) -> None:
    """The script: a malformed entry is reported, the good one beside it replayed; a key the
    service sends that the emulator lacks fails the run (exit 1) until it is reviewed."""
    from generator.emulator import Emulator

    with Emulator() as emu:  # what the emulator answers, as the "recorded" body
        import urllib.request

        from generator.workspace import make_token

        req = urllib.request.Request(
            emu.url + WS.split("azure.com/", 1)[1],
            headers={"Authorization": f"Bearer {make_token(emu.url, emu.secret)}"},
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            body = json.loads(resp.read())
    body["properties"]["newServiceField"] = {"enabled": True}
    _recording(tmp_path, "ws.json", [_workspace_get(body), {"RequestUri": 3}])
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), str(tmp_path)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 1, proc.stderr
    out = proc.stdout.splitlines()
    assert out[0].startswith("ws.json#1: malformed recording: RequestUri: expected str")
    assert out[1] == (
        "ws.json#0 workspace.get (GET 00000): differs: body.properties.newServiceField: missing "
        "(the service sends it) (NOT ACCEPTED)"
    )
    assert out[-1] == "conformance: 1 operations compared, 0 conform, 1 differ, 0 skipped"
    assert "not in accepted.yaml" in proc.stderr
    reviewed = tmp_path / "accepted.yaml"
    reviewed.write_text(
        "- operation: workspace.get\n  path: body.properties.newServiceField\n"
        "  reason: a field no amlgen reader uses\n"
    )
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), str(tmp_path), "--accepted", str(reviewed)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_shapes_not_values() -> None:
    rec = {
        "name": "a",
        "type": "Microsoft.MachineLearningServices/workspaces/jobs",
        "properties": {
            "status": "Running",
            "description": None,
            "startTime": "2025-02-25T09:29:37.1190479+00:00",
            "timeout": "PT5S",
            "count": 1.0,
            "tags": {"service-added": "x"},
        },
    }
    same = {
        "name": "b",
        "type": "Microsoft.MachineLearningServices/workspaces/jobs",
        "properties": {
            "status": "Running",
            "startTime": "2026-01-01T00:00:00Z",
            "timeout": "PT1M",
            "count": 3,
            "tags": {},
        },
    }
    assert compare_body(rec, same) == []  # values, null vs absent, free-form map keys
    other = json.loads(json.dumps(same))
    other["properties"].update(status="NotStarted", startTime="soon", count="3", extra=1)
    found = {d.path: d.message for d in compare_body(rec, other)}
    assert found == {
        "body.properties.status": "'NotStarted' where the service sends 'Running'",
        "body.properties.startTime": "'soon' is not a date-time as the service sends",
        "body.properties.count": "a string where the service sends a number",
        "body.properties.extra": "sent by the emulator, not by the service",
    }
    path = "/subscriptions/s/resourceGroups/r/providers/P/workspaces/w/computes/c"
    loc = "/subscriptions/s/providers/P/locations/l"
    rec_headers = {"Azure-AsyncOperation": f"https://x{loc}/computeOperationsStatus/1?v=1"}
    emu_headers = {
        "azure-asyncoperation": f"http://127.0.0.1:1{loc}/mfeOperationsStatus/2",
        "Location": f"http://h{path}",
    }
    found = {d.path: d.message for d in compare_headers(rec_headers, emu_headers, path)}
    assert found == {
        "headers.Azure-AsyncOperation": (
            "mfeOperationsStatus URL where the service sends computeOperationsStatus URL"
        ),
        "headers.Location": "sent by the emulator, not by the service",
    }


def test_the_accepted_file_is_checked(tmp_path: Path) -> None:
    assert load_accepted(ACCEPTED)  # the reviewed file itself loads
    bad = tmp_path / "accepted.yaml"
    for text, message in (
        ("- operation: x\n  path: y\n", "entry 1: reason: required, a non-empty string"),
        ("- {operation: x, path: y, reason: z, why: w}\n", "entry 1: unknown key 'why'"),
        ("operation: x\n", "expected a list of accepted differences"),
    ):
        bad.write_text(text)
        with pytest.raises(AcceptedError, match=message):
            load_accepted(bad)
