"""Registry family: the `azureml` registry's discovery, components and models, served from the
bundled catalog (models carry their allow lists and lifecycle dates in tags, as the registry does).
"""

from __future__ import annotations

import copy
import json
from typing import TYPE_CHECKING, Any

from ... import catalog
from ..arm import (
    LOCATION,
    PROVIDER,
    REG,
    REGISTRY,
    Family,
    Request,
    Response,
    Route,
    not_found,
    system_data,
)

if TYPE_CHECKING:
    from ..api import Api

# Lifecycle keys of the bundled catalog -> the registry's tag names.
LIFECYCLE_TAGS = {
    "finetune_deprecation": "FinetuneDeprecationDate",
    "finetune_retirement": "FinetuneRetirementDate",
    "inference_deprecation": "InferenceDeprecationDate",
    "inference_retirement": "InferenceRetirementDate",
}


def registry_discovery(api: Api, req: Request) -> Response:
    if req.m["reg"] != REGISTRY:
        raise not_found("Registry", req.m["reg"])
    return Response(
        200,
        {
            "registryName": REGISTRY,
            "primaryRegion": LOCATION,
            "regions": [LOCATION],
            "subscriptionId": "00000000-0000-0000-0000-0000000000aa",
            "resourceGroup": "registry-azureml",
            "primaryRegionResourceProviderUri": api.url,
            "registryFqdns": {LOCATION: {"primary": api.url}},
        },
    )


def _reg_base(req: Request) -> str:
    m = req.m
    return (
        f"/subscriptions/{m['sub']}/resourceGroups/{m['rg']}/providers/{PROVIDER}"
        f"/registries/{m['reg']}"
    )


def _component(req: Request, name: str, ver: str) -> dict[str, Any]:
    raw = catalog.component_raw(name, ver)
    if raw is None or req.m["reg"] != REGISTRY:
        raise not_found("Component", f"{name}:{ver}")
    spec = {
        "$schema": "https://azuremlschemas.azureedge.net/latest/pipelineComponent.schema.json",
        "name": name,
        "version": ver,
        "type": raw.get("type", "pipeline"),
        "display_name": name,
        "is_deterministic": True,
        "inputs": copy.deepcopy(raw["inputs"]),
        "outputs": copy.deepcopy(raw["outputs"]),
    }
    return {
        "id": f"{_reg_base(req)}/components/{name}/versions/{ver}",
        "name": ver,
        "type": f"{PROVIDER}/registries/components/versions",
        "properties": {
            "componentSpec": spec,
            "description": f"{name} (bundled catalog)",
            "isArchived": False,
            "isAnonymous": False,
            "tags": {},
            "properties": {},
            "provisioningState": "Succeeded",
        },
        "systemData": system_data(),
    }


def get_component(api: Api, req: Request) -> Response:
    return Response(200, _component(req, req.m["name"], req.m["ver"]))


def list_components(api: Api, req: Request) -> Response:
    versions = catalog.component_versions(req.m["name"])
    return Response(200, {"value": [_component(req, req.m["name"], v) for v in reversed(versions)]})


def get_component_container(api: Api, req: Request) -> Response:
    versions = catalog.component_versions(req.m["name"])
    if not versions or req.m["reg"] != REGISTRY:
        raise not_found("Component", req.m["name"])
    return Response(
        200,
        {
            "id": f"{_reg_base(req)}/components/{req.m['name']}",
            "name": req.m["name"],
            "properties": {"latestVersion": versions[-1], "isArchived": False},
            "systemData": system_data(),
        },
    )


def _model(req: Request, name: str, ver: str) -> dict[str, Any]:
    mv = catalog.model(name, ver)
    if mv is None or req.m["reg"] != REGISTRY:
        raise not_found("Model", f"{name}:{ver}")
    # The registry stores lists and dicts in tags as strings (the notebook literal_evals them).
    tags = {
        "finetune_compute_allow_list": json.dumps(list(mv.finetune_allow_list)),
        "inference_compute_allow_list": json.dumps(list(mv.inference_allow_list)),
        "model_specific_defaults": json.dumps(mv.model_specific_defaults),
        "task": ", ".join(mv.inference_tasks) or "chat-completion",
        "author": "Microsoft",
    }
    if mv.deployment_options:
        tags["deploymentOptions"] = ", ".join(mv.deployment_options)
    if mv.context_window:
        tags["textContextWindow"] = str(mv.context_window)
    for key, value in mv.lifecycle.items():
        tags[LIFECYCLE_TAGS.get(key, key)] = value
    return {
        "id": f"azureml://registries/{REGISTRY}/models/{name}/versions/{ver}",
        "name": ver,
        "type": f"{PROVIDER}/registries/models/versions",
        "properties": {
            "modelType": "mlflow_model",
            "isArchived": mv.archived,
            "isAnonymous": False,
            "modelUri": f"azureml://registries/{REGISTRY}/models/{name}/versions/{ver}",
            "description": f"{name} (bundled catalog)",
            "tags": tags,
            "properties": {
                "finetune-recommended-sku": ", ".join(mv.finetune_allow_list),
                "inference-recommended-sku": ", ".join(mv.inference_allow_list),
                "finetuning-tasks": ", ".join(mv.finetuning_tasks) or "chat-completion",
                **(
                    {"finetune-min-sku-spec": mv.finetune_min_sku_spec}
                    if mv.finetune_min_sku_spec
                    else {}
                ),
                **(
                    {"inference-min-sku-spec": mv.inference_min_sku_spec}
                    if mv.inference_min_sku_spec
                    else {}
                ),
            },
            "flavors": {"hftransformersv2": {"data": {"task": "chat-completion"}}},
            "provisioningState": "Succeeded",
        },
        "systemData": system_data(),
    }


def get_model(api: Api, req: Request) -> Response:
    return Response(200, _model(req, req.m["name"], req.m["ver"]))


def list_models(api: Api, req: Request) -> Response:
    versions = catalog.model_versions(req.m["name"])
    return Response(200, {"value": [_model(req, req.m["name"], v) for v in reversed(versions)]})


def get_model_container(api: Api, req: Request) -> Response:
    versions = catalog.model_versions(req.m["name"])
    if not versions or req.m["reg"] != REGISTRY:
        raise not_found("Model", req.m["name"])
    return Response(
        200,
        {
            "id": f"{_reg_base(req)}/models/{req.m['name']}",
            "name": req.m["name"],
            "properties": {"latestVersion": versions[-1], "isArchived": False},
            "systemData": system_data(),
        },
    )


COMPONENT = REG + r"/components/(?P<name>[^/]+)"
MODEL = REG + r"/models/(?P<name>[^/]+)"
FAMILY = Family(
    "registry",
    (
        Route(
            "GET",
            r"/registrymanagement/v1\.0/registries/(?P<reg>[^/]+)/discovery",
            registry_discovery,
        ),
        Route("GET", COMPONENT, get_component_container),
        Route("GET", COMPONENT + r"/versions", list_components),
        Route("GET", COMPONENT + r"/versions/(?P<ver>[^/]+)", get_component),
        Route("GET", MODEL, get_model_container),
        Route("GET", MODEL + r"/versions", list_models),
        Route("GET", MODEL + r"/versions/(?P<ver>[^/]+)", get_model),
    ),
)
