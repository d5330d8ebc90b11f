"""The plan's outputs offline: text, JSON (the documented structure) and markdown, and the exit
codes of terraform's -detailed-exitcode. tests/test_plan.py computes plans against the emulator."""

from __future__ import annotations

import json

import pytest

from generator.errors import WorkflowError
from generator.normalise import Change
from generator.planning import (
    CANNOT_UPDATE,
    CREATE,
    MISSING,
    NO_CHANGE,
    READ,
    UPDATE,
    Plan,
    ResourcePlan,
)

EP = "ultrachat-completion-dev"


def sample() -> Plan:
    return Plan(
        env="dev",
        backend="sdk",
        resources=[
            ResourcePlan("compute", "gpu-a100", NO_CHANGE, "azureml/dev/compute.yml"),
            ResourcePlan(
                "online_deployment",
                f"{EP}/demo",
                UPDATE,
                "azureml/dev/deployment.yml",
                changes=[Change("instance_count", 1, 2)],
            ),
            ResourcePlan(
                "traffic", EP, UPDATE, drift=True, changes=[Change("traffic[demo]", 0, 100)]
            ),
            ResourcePlan(
                "model",
                "m:1",
                CANNOT_UPDATE,
                "azureml/dev/model.yml",
                changes=[Change("description", "old", "new")],
                note="model versions are immutable: bump registered_model.version",
            ),
            ResourcePlan("online_endpoint", EP, CREATE, "azureml/dev/endpoint.yml"),
            ResourcePlan("component", "azureml/chat_completion_pipeline:0.0.82", READ),
        ],
    )


def test_text() -> None:
    assert sample().render("text") == (
        "amlgen plan: env dev, backend sdk\n"
        "  = compute gpu-a100: no change\n"
        f"  ~ online deployment {EP}/demo: update\n"
        "      instance_count: 1 → 2\n"
        f"  ~ traffic {EP}: update (drift: changed outside amlgen)\n"
        "      traffic[demo]: 0 → 100\n"
        "  ! model m:1: cannot update\n"
        "      description: old → new\n"
        "      model versions are immutable: bump registered_model.version\n"
        f"  + online endpoint {EP}: create\n"
        "  = registry component azureml/chat_completion_pipeline:0.0.82: exists\n"
        "Plan: 1 to create, 2 to update (1 drift), 1 cannot update, 1 unchanged.\n"
    )


def test_json_structure() -> None:
    data = json.loads(sample().render("json"))
    assert data["format_version"] == 1
    assert data["changes"] is True
    assert data["summary"] == {
        "create": 1,
        "update": 2,
        "cannot_update": 1,
        "no_change": 1,
        "drift": 1,
        "missing": 0,
    }
    assert data["resources"][1] == {
        "kind": "online_deployment",
        "name": f"{EP}/demo",
        "file": "azureml/dev/deployment.yml",
        "action": "update",
        "drift": False,
        "changes": [{"path": "instance_count", "old": 1, "new": 2}],
        "note": None,
    }


def test_markdown_is_a_pull_request_comment() -> None:
    text = sample().render("markdown")
    assert text.startswith("### amlgen plan: `dev`\n\n**Plan: 1 to create, 2 to update")
    assert f"| ~ | `traffic {EP}` | update (drift: changed outside amlgen) |" in text
    assert "```diff\n- instance_count: 1\n+ instance_count: 2\n```" in text
    assert "<details><summary>Changes</summary>" in text and text.endswith("</details>\n")


def test_exit_codes_follow_detailed_exitcode() -> None:
    assert sample().exit_code == 2
    quiet = Plan(
        "dev",
        "cli",
        [ResourcePlan("compute", "c", NO_CHANGE), ResourcePlan("component", "x", READ)],
    )
    assert quiet.exit_code == 0 and not quiet.changed
    assert quiet.render("text").endswith("No changes: the workspace matches the committed files.\n")
    missing = Plan("dev", "cli", [ResourcePlan("registry_model", "azureml/m:9", MISSING)])
    assert missing.exit_code == 2
    assert "1 missing in the registry" in missing.summary_line()


def test_unknown_format() -> None:
    with pytest.raises(WorkflowError, match="allowed: text, json, markdown"):
        sample().render("yaml")
