"""Unfilled placeholders: template text left where Azure ML takes a name, compute, path or URI.

Samples and templates ship values such as `azureml:<your-compute-name>`, `$endpointName` or
`{{asset.version}}` for a person or a script to fill. Azure ML takes them literally: the create
command fails on the name, or worse, a path resolves to nothing. Bindings are not placeholders:
`${{parent.inputs.x}}`, `${{inputs.x}}` and `${{name}}` in an output path are Azure ML's own.
Free text (descriptions, tags, commands, literal input values such as chat templates with
`<|user|>`) is never judged. This is the one place the rule lives.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from . import kinds
from .assets import Asset
from .findings import AZURE, ERROR, Finding, YamlPath, finding

CODE = "placeholder.unfilled"

# (pattern, what it is); the first that matches names the placeholder.
PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"<[^<>\n]*[A-Za-z][^<>\n]*>"), "an angle-bracket placeholder"),
    (re.compile(r"\$(?!\{\{)\{?[A-Za-z_][A-Za-z0-9_]*\}?"), "a shell-style variable"),
    (re.compile(r"(?<!\$)\{\{\s*[A-Za-z_][\w.\- ]*\}\}"), "a template variable"),
    (re.compile(r"(?i)(?<![a-z0-9_-])your[-_][a-z0-9_-]+"), "a 'your-…' placeholder"),
    (
        re.compile(
            r"(?i)(?<![a-z0-9])(?:replace[-_ ]?(?:me|this|with)|change[-_ ]?me|"
            r"fill[-_ ]?(?:me|in|this)|to[-_ ]be[-_ ]filled)(?![a-z0-9])"
        ),
        "a fill-me-in marker",
    ),
    (re.compile(r"(?i)(?<![a-z0-9])x{4,}(?:-x{4,})*(?![a-z0-9])"), "an x-ed out value"),
    (
        re.compile(
            r"(?i)/(?:subscriptions|resourcegroups|workspaces|registries|storageaccounts|"
            r"userassignedidentities|vaults)/\{[^/{}]+\}"
        ),
        "a {…} slot in a resource id",
    ),
)

# Keys whose string value is a name, a compute, a path or a URI, wherever they appear.
REFERENCE_KEYS = frozenset(
    {
        "name",
        "endpoint_name",
        "deployment_name",
        "compute",
        "default_compute",
        "model",
        "model_id",
        "environment",
        "image",
        "code",
        "path",
        "conda_file",
        "dockerfile_path",
        "scoring_script",
        "component",
        "trial",
        "datastore",
        "default_datastore",
        "instance_type",
        "instance_types",
        "size",
        "resource_id",
        "account_name",
        "container_name",
        "registry_name",
        "url",
        "uri",
        "create_job",
        "training_data",
        "validation_data",
        "subscription_id",
        "resource_group",
        "workspace_name",
        "target",
        "location",
    }
)
# Keys ending so name a reference too (a pipeline input `ws_connection_name`, `model_path`),
# except the free-text display name.
REFERENCE_SUFFIXES = ("_name", "_compute", "_path", "_uri", "_url", "_connection", "_id")
NOT_REFERENCES = frozenset({"display_name"})
# Subtrees of free text: never judged.
FREE_TEXT = frozenset(
    {"description", "tags", "properties", "command", "args", "environment_variables", "metadata"}
)


def find(text: str) -> tuple[str, str] | None:
    """(the placeholder, what it is) in `text`, or None."""
    for pattern, what in PATTERNS:
        m = pattern.search(text)
        if m:
            return m.group(0), what
    return None


def is_reference(key: str) -> bool:
    """Whether a key's string value names something (a name, compute, path or URI)."""
    if key in NOT_REFERENCES:
        return False
    return key in REFERENCE_KEYS or key.endswith(REFERENCE_SUFFIXES)


def _references(data: Any) -> Iterator[tuple[YamlPath, str]]:
    """Every string under a reference key, with its YAML path (free-text subtrees skipped)."""
    stack: list[tuple[Any, YamlPath, bool]] = [(data, (), False)]
    while stack:
        node, path, judged = stack.pop()
        if isinstance(node, str):
            if judged:
                yield path, node
        elif isinstance(node, dict):
            for key, value in node.items():
                if key in FREE_TEXT:
                    continue
                stack.append((value, (*path, key), is_reference(str(key))))
        elif isinstance(node, list):
            stack += [(v, (*path, i), judged) for i, v in enumerate(node)]


def check_asset(asset: Asset) -> list[Finding]:
    """An error for every reference that still holds a placeholder, naming the field."""
    if not isinstance(asset.data, dict) or asset.kind in (None, *kinds.NOT_JUDGED):
        return []
    out: list[Finding] = []
    for path, text in sorted(_references(asset.data), key=lambda item: [str(p) for p in item[0]]):
        hit = find(text)
        if hit is None:
            continue
        shown, what = hit
        field = next((p for p in reversed(path) if isinstance(p, str)), "value")
        msg = (
            f"{field} {text!r} holds {what} ({shown}) that was never "
            "filled in: Azure ML would take it literally"
        )
        out.append(finding(asset, path, ERROR, CODE, msg, AZURE))
    return out
