"""Layer 7 (--online): the live registry component and model, and how they differ from ours.

The bundled catalog is a snapshot; the registry moves on. Online, the job is validated against
the live interface and every difference from the snapshot is reported, so a stale catalog shows.
The conversion and comparison are pure functions of SDK entities, testable without a registry.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .. import catalog
from ..catalog import metadata
from ..catalog.uri import COMPONENTS, MODELS, parse_registry_uri
from .assets import Asset
from .component import pipeline_nodes
from .cross import base_model, finetune_node
from .findings import ERROR, INFO, ONLINE, WARNING, Finding, finding

_FIELDS = ("type", "optional", "default", "enum", "min", "max")


def spec_from_entity(component: Any) -> catalog.ComponentSpec:
    """An SDK component entity (live or loaded) in the bundled catalog's shape."""
    inputs: dict[str, Any] = {}
    for name, inp in (component.inputs or {}).items():
        raw: dict[str, Any] = {"type": str(getattr(inp, "type", "string"))}
        optional = getattr(inp, "optional", None)
        raw["optional"] = True if optional is None else bool(optional)
        for key in ("default", "enum", "min", "max", "description"):
            value = getattr(inp, key, None)
            if value is not None:
                raw[key] = [str(v) for v in value] if key == "enum" else value
        inputs[name] = raw
    outputs = {
        n: {"type": str(getattr(o, "type", "uri_folder"))}
        for n, o in (component.outputs or {}).items()
    }
    return catalog.component_from_raw(
        str(component.name), str(component.version), {"inputs": inputs, "outputs": outputs}
    )


def model_from_entity(model: Any) -> catalog.ModelVersion:
    """An SDK model entity's registry metadata (either layout, see catalog.metadata)."""
    tags = dict(getattr(model, "tags", None) or {})
    props = dict(getattr(model, "properties", None) or {})
    # The SDK entity drops `system_metadata`; some registries echo parts of it as properties.
    system = metadata.as_dict(props.get("system_metadata"))
    if props.get("SKU") or tags.get("SKU"):
        system.setdefault("SKU", metadata.as_dict(props.get("SKU") or tags.get("SKU")))
    name, version = str(model.name), str(model.version)
    bundled = catalog.model(name, version)
    archived = bool(getattr(model, "stage", None) == "Archived") or (
        bundled.archived if bundled else False
    )
    entry = metadata.version_entry(tags, system, props, archived=archived)
    return catalog.model_from_entry(name, version, entry)


def compare_component(
    live: catalog.ComponentSpec, bundled: catalog.ComponentSpec | None
) -> list[tuple[str, str]]:
    """How the live interface differs from the bundled one: (severity, message)."""
    if bundled is None:
        return [
            (
                INFO,
                f"{live.name} {live.version} is not bundled: validated against the live "
                "interface only",
            )
        ]
    out: list[tuple[str, str]] = []
    for name in sorted(set(live.inputs) - set(bundled.inputs)):
        out.append(
            (
                INFO,
                f"live {live.name} {live.version} has input {name!r}, which the bundled "
                "catalog lacks",
            )
        )
    for name in sorted(set(bundled.inputs) - set(live.inputs)):
        out.append(
            (WARNING, f"bundled input {name!r} is gone from the live {live.name} {live.version}")
        )
    for name in sorted(set(live.inputs) & set(bundled.inputs)):
        a, b = bundled.inputs[name], live.inputs[name]
        for attr in _FIELDS:
            old, new = getattr(a, attr), getattr(b, attr)
            if attr == "default" and old is not None and str(old) == str(new):
                continue
            if attr == "enum" and old is not None and new is not None and set(old) == set(new):
                continue
            if old != new:
                out.append(
                    (
                        WARNING,
                        f"input {name!r}: {attr} is {new!r} in the live registry, "
                        f"{old!r} in the bundled catalog",
                    )
                )
    for name in sorted(set(live.outputs) ^ set(bundled.outputs)):
        side = "live" if name in live.outputs else "bundled"
        out.append((WARNING, f"output {name!r} exists only in the {side} interface"))
    for name in sorted(set(live.outputs) & set(bundled.outputs)):
        if live.outputs[name] != bundled.outputs[name]:
            out.append(
                (
                    WARNING,
                    f"output {name!r} is {live.outputs[name]} live, "
                    f"{bundled.outputs[name]} bundled",
                )
            )
    return out


def compare_model(
    live: catalog.ModelVersion, bundled: catalog.ModelVersion | None
) -> list[tuple[str, str]]:
    if bundled is None:
        return [
            (
                INFO,
                f"{live.name} {live.version} is not bundled: checked against the live "
                "metadata only",
            )
        ]
    out: list[tuple[str, str]] = []
    for attr in ("finetune_allow_list", "inference_allow_list"):
        old = {s.lower() for s in getattr(bundled, attr)}
        new = {s.lower() for s in getattr(live, attr)}
        if new and old != new:
            added = sorted(new - old)
            removed = sorted(old - new)
            out.append(
                (WARNING, f"{attr}: live adds {added or 'nothing'}, removes {removed or 'nothing'}")
            )
    for key, value in sorted(live.lifecycle.items()):
        if bundled.lifecycle.get(key) != value:
            out.append((WARNING, f"{key} is {value} live, {bundled.lifecycle.get(key)} bundled"))
    if live.model_specific_defaults and {
        k: str(v) for k, v in live.model_specific_defaults.items()
    } != {k: str(v) for k, v in bundled.model_specific_defaults.items()}:
        out.append((WARNING, "model_specific_defaults differ from the bundled catalog"))
    return out


def registry_client(registry: str = "azureml", emulator: str | None = None) -> Any:
    """A registry MLClient: the local emulator (`emulator` or AMLGEN_EMULATOR), else Azure."""
    from ..quiet import quiet
    from ..workspace import emulator_connection

    connection = emulator_connection(emulator)
    with quiet():
        if connection:
            from ..workspace import emulator_client as ml_client

            return ml_client(*connection, registry_name=registry)
        from azure.ai.ml import MLClient
        from azure.identity import DefaultAzureCredential

        return MLClient(DefaultAzureCredential(), registry_name=registry)


class Online:
    """Fetches live components and models once each; exposes them as catalog lookups."""

    def __init__(self, client_factory: Callable[[str], Any] = registry_client) -> None:
        self._factory = client_factory
        self._clients: dict[str, Any] = {}
        self.components: dict[tuple[str, str], catalog.ComponentSpec | None] = {}
        self.models: dict[tuple[str, str], catalog.ModelVersion | None] = {}
        self.errors: dict[tuple[str, str, str], str] = {}

    def _client(self, registry: str) -> Any:
        if registry not in self._clients:
            self._clients[registry] = self._factory(registry)
        return self._clients[registry]

    def _fetch(self, what: str, registry: str, name: str, version: str) -> Any:
        from ..quiet import quiet

        try:
            with quiet():
                client = self._client(registry)
                if what == "model":  # both metadata layouts, from the REST resource
                    return metadata.read_registry_model(client.models, name, version)
                return client.components.get(name=name, version=version)
        except Exception as exc:  # network, auth, not found: each becomes a finding
            first = next((ln for ln in str(exc).splitlines() if ln.strip()), type(exc).__name__)
            self.errors[(what, name, version)] = f"{type(exc).__name__}: {first.strip()[:200]}"
            return None

    def component(self, registry: str, name: str, version: str) -> catalog.ComponentSpec | None:
        key = (name, version)
        if key not in self.components:
            entity = self._fetch("component", registry, name, version)
            self.components[key] = spec_from_entity(entity) if entity is not None else None
        return self.components[key]

    def model(self, registry: str, name: str, version: str) -> catalog.ModelVersion | None:
        key = (name, version)
        if key not in self.models:
            entry = self._fetch("model", registry, name, version)
            self.models[key] = (
                catalog.model_from_entry(name, version, entry) if entry is not None else None
            )
        return self.models[key]

    def spec_lookup(self, name: str, version: str) -> catalog.ComponentSpec | None:
        return self.components.get((name, version)) or catalog.component(name, version)

    def model_lookup(self, name: str, version: str) -> catalog.ModelVersion | None:
        return self.models.get((name, version)) or catalog.model(name, version)

    def prefetch(self, assets: list[Asset]) -> list[Finding]:
        """Fetch what the pipeline jobs reference and report differences from the catalog."""
        out: list[Finding] = []
        for asset in assets:
            for node in pipeline_nodes(asset):
                m = parse_registry_uri(node.ref, COMPONENTS)
                if not m or not m.version:
                    continue
                path = ("jobs", node.key, "component")
                name, version = m.name, m.version
                live = self.component(m.registry, name, version)
                if live is None:
                    why = self.errors.get(("component", name, version), "not found")
                    out.append(
                        finding(
                            asset,
                            path,
                            ERROR,
                            "online.fetch",
                            f"cannot fetch {name} {version} from registry {m.registry}: {why}",
                            ONLINE,
                        )
                    )
                    continue
                for sev, msg in compare_component(live, catalog.component(name, version)):
                    out.append(finding(asset, path, sev, "online.component-diff", msg, ONLINE))
            ft = finetune_node(pipeline_nodes(asset, self.spec_lookup))
            if ft is None:
                continue
            mpath, ref = base_model(asset, ft)
            mm = parse_registry_uri(ref, MODELS)
            if not mm or not mm.version:
                continue
            name, version = mm.name, mm.version
            live_model = self.model(mm.registry, name, version)
            if live_model is None:
                why = self.errors.get(("model", name, version), "not found")
                out.append(
                    finding(
                        asset,
                        mpath,
                        ERROR,
                        "online.fetch",
                        f"cannot fetch model {name} {version} from registry {mm.registry}: {why}",
                        ONLINE,
                    )
                )
                continue
            for sev, msg in compare_model(live_model, catalog.model(name, version)):
                out.append(finding(asset, mpath, sev, "online.model-diff", msg, ONLINE))
        return out
