"""Registry asset URIs, formatted and parsed in this one place:
`azureml://registries/<registry>/<components|models>/<name>[/versions/<version>]`."""

from __future__ import annotations

import re
from typing import NamedTuple

COMPONENTS, MODELS = "components", "models"

_URI = re.compile(
    r"^azureml://registries/(?P<registry>[^/]+)/(?P<kind>components|models)/(?P<name>[^/]+)"
    r"(?:/versions/(?P<version>[^/]+)|/labels/(?P<label>[^/]+))?/?$"
)


class RegistryAsset(NamedTuple):
    registry: str
    kind: str  # COMPONENTS or MODELS
    name: str
    version: str | None = None  # None: unversioned or by label
    label: str | None = None


def registry_uri(registry: str, kind: str, name: str, version: str | None = None) -> str:
    """The URI of a registry component or model (of one version, when given)."""
    if kind not in (COMPONENTS, MODELS):
        raise ValueError(f"registry asset kind {kind!r}: allowed: {COMPONENTS}, {MODELS}")
    base = f"azureml://registries/{registry}/{kind}/{name}"
    return f"{base}/versions/{version}" if version is not None else base


def parse_registry_uri(value: object, kind: str | None = None) -> RegistryAsset | None:
    """The parts of a registry URI (of `kind`, when given), or None when it is not one."""
    m = _URI.match(str(value)) if isinstance(value, str) else None
    if m is None or (kind is not None and m["kind"] != kind):
        return None
    return RegistryAsset(m["registry"], m["kind"], m["name"], m["version"], m["label"])
