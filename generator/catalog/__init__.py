"""Bundled knowledge: the registry component's interface, model metadata and VM sizes.

components.json and models.json are derived from the real registry specs by
scripts/build_catalog.py; vm_sizes.json is curated from Azure's published size tables.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any


@cache
def _load(name: str) -> Any:
    return json.loads(resources.files(__package__).joinpath(name).read_text(encoding="utf-8"))


@dataclass(frozen=True)
class InputSpec:
    name: str
    type: str  # string | integer | number | boolean | uri_file | mlflow_model | ...
    optional: bool = True
    default: Any = None
    enum: tuple[str, ...] | None = None
    min: float | None = None
    max: float | None = None
    description: str = ""

    @property
    def is_flag(self) -> bool:
        """A string enum of exactly "true"/"false": the component's way of saying boolean."""
        return self.enum is not None and set(self.enum) == {"true", "false"}

    @property
    def is_literal(self) -> bool:
        return self.type in ("string", "integer", "number", "boolean")


@dataclass(frozen=True)
class ComponentSpec:
    name: str
    version: str
    inputs: dict[str, InputSpec] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)


def _spec_from(name: str, version: str, raw: dict[str, Any]) -> ComponentSpec:
    inputs = {
        n: InputSpec(
            name=n,
            type=i["type"],
            optional=i.get("optional", True),
            default=i.get("default"),
            enum=tuple(i["enum"]) if "enum" in i else None,
            min=i.get("min"),
            max=i.get("max"),
            description=i.get("description", ""),
        )
        for n, i in raw["inputs"].items()
    }
    outputs = {n: o["type"] for n, o in raw["outputs"].items()}
    return ComponentSpec(name=name, version=version, inputs=inputs, outputs=outputs)


def component_versions(name: str) -> list[str]:
    """Bundled versions of a registry component, oldest first."""
    return list(_load("components.json").get(name, {}))


@cache
def component(name: str, version: str) -> ComponentSpec | None:
    """The bundled interface of `name` at `version`, or None when it is not bundled."""
    raw = _load("components.json").get(name, {}).get(version)
    return _spec_from(name, version, raw) if raw else None


def component_raw(name: str, version: str) -> dict[str, Any] | None:
    """The bundled catalog entry of `name` at `version` as stored (type, inputs, outputs)."""
    raw = _load("components.json").get(name, {}).get(version)
    return dict(raw) if raw else None


def component_from_raw(name: str, version: str, raw: dict[str, Any]) -> ComponentSpec:
    """Build a spec from a catalog-shaped dict (used for live registry components)."""
    return _spec_from(name, version, raw)


def all_component_inputs(name: str) -> dict[str, InputSpec]:
    """Union of inputs over every bundled version (newest wins), for the params schema."""
    merged: dict[str, InputSpec] = {}
    for version in component_versions(name):
        spec = component(name, version)
        assert spec is not None
        merged.update(spec.inputs)
    return merged


@dataclass(frozen=True)
class ModelVersion:
    name: str
    version: str
    finetune_allow_list: tuple[str, ...] = ()  # registry order: the order of recommendation
    inference_allow_list: tuple[str, ...] = ()
    model_specific_defaults: dict[str, Any] = field(default_factory=dict)
    lifecycle: dict[str, str] = field(default_factory=dict)  # ISO days, see metadata.py
    archived: bool = False
    finetuning_tasks: tuple[str, ...] = ()
    inference_tasks: tuple[str, ...] = ()
    deployment_options: tuple[str, ...] = ()  # MaaP = managed compute (chat_completion_pipeline)
    context_window: int | None = None
    finetune_min_sku_spec: str | None = None
    inference_min_sku_spec: str | None = None


def model_from_entry(name: str, version: str, raw: dict[str, Any]) -> ModelVersion:
    """A catalog-shaped entry (bundled, locked or read live) as a ModelVersion."""
    return ModelVersion(
        name=name,
        version=version,
        finetune_allow_list=tuple(raw.get("finetune_allow_list", ())),
        inference_allow_list=tuple(raw.get("inference_allow_list", ())),
        model_specific_defaults=dict(raw.get("model_specific_defaults", {})),
        lifecycle=dict(raw.get("lifecycle", {})),
        archived=bool(raw.get("archived", False)),
        finetuning_tasks=tuple(raw.get("finetuning_tasks", ())),
        inference_tasks=tuple(raw.get("inference_tasks", ())),
        deployment_options=tuple(raw.get("deployment_options", ())),
        context_window=raw.get("context_window"),
        finetune_min_sku_spec=raw.get("finetune_min_sku_spec"),
        inference_min_sku_spec=raw.get("inference_min_sku_spec"),
    )


def model_names() -> list[str]:
    return list(_load("models.json"))


def model(name: str, version: str | None = None) -> ModelVersion | None:
    """Bundled metadata of a registry model (latest bundled version when `version` is None)."""
    entry = _load("models.json").get(name)
    if entry is None:
        return None
    version = version or entry["latest_version"]
    raw = entry["versions"].get(version)
    if raw is None:
        return None
    return model_from_entry(name, version, raw)


def models() -> list[ModelVersion]:
    """Every bundled model version (the candidates lifecycle successors are chosen from)."""
    out = []
    for name in model_names():
        for version in model_versions(name):
            found = model(name, version)
            assert found is not None
            out.append(found)
    return out


def model_layouts(name: str, version: str) -> list[str]:
    """The registry metadata layouts a bundled version was read in: `tags` (old),
    `system_metadata` (new), or both (see metadata.py)."""
    entry = _load("models.json").get(name)
    raw = entry["versions"].get(version) if entry else None
    return list(raw.get("layouts", [])) if raw else []


def model_versions(name: str) -> list[str]:
    entry = _load("models.json").get(name)
    return list(entry["versions"]) if entry else []


@dataclass(frozen=True)
class VmSize:
    name: str
    gpus: int
    gpu: str | None = None
    retired: str | None = None  # ISO date
    retiring: bool = False
    replacement: str | None = None


def vm_size(name: str) -> VmSize | None:
    """Look up a VM size case-insensitively (Azure treats size names that way)."""
    sizes = _load("vm_sizes.json")["sizes"]
    for canonical, raw in sizes.items():
        if canonical.lower() == name.lower():
            return VmSize(
                name=canonical,
                gpus=raw["gpus"],
                gpu=raw.get("gpu"),
                retired=raw.get("retired"),
                retiring=bool(raw.get("retiring", False)),
                replacement=raw.get("replacement"),
            )
    return None


def vm_size_names() -> list[str]:
    return list(_load("vm_sizes.json")["sizes"])


def vm_catalog_date() -> str:
    """When the VM-size catalog was last curated (ISO date): Azure adds sizes after it."""
    return str(_load("vm_sizes.json")["as_of"])


# Azure size names: Standard_<family><vCPUs>[-<constrained>][<features>][_<accel>][_v<n>]
VM_SIZE_NAME = re.compile(
    r"^(standard|basic)_[a-z]{1,4}\d+(-\d+)?[a-z]*(_[a-z0-9]+)*$", re.IGNORECASE
)


def vm_size_well_formed(name: str) -> bool:
    """Whether `name` is shaped like an Azure VM size (`Standard_E64s_v3`), known or not."""
    return bool(VM_SIZE_NAME.match(name))


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", version))
