"""Registry family: the `azureml` registry's discovery, components and models, served from the
bundled catalog, each model version in the metadata layout(s) of its registry spec: old (tags) and
new (systemMetadata); a `registry_model` fault makes the registry move on (a date, an allow list).
"""

from __future__ import annotations

import copy
import json
import uuid
from typing import Any

from ... import catalog
from ...catalog.uri import MODELS, registry_uri
from ..arm import (
    LOCATION,
    PROVIDER,
    REG,
    REGISTRY,
    ZERO_ID,
    Family,
    Request,
    Response,
    Route,
    not_found,
    now_iso,
    page,
    system_data,
)
from ..arm import Service as Api

# The public registries of Azure ML's model catalogue (the publishers' own registries).
PUBLIC_REGISTRIES = (REGISTRY, "azureml-meta", "azureml-mistral", "azureml-cohere", "azureml-ai21")
# Lifecycle keys of the bundled catalog -> the registry's tag names.
LIFECYCLE_TAGS = {
    "finetune_deprecation": "FinetuneDeprecationDate",
    "finetune_retirement": "FinetuneRetirementDate",
    "inference_deprecation": "InferenceDeprecationDate",
    "inference_retirement": "InferenceRetirementDate",
}
# ... and to the new layout's system_metadata.deprecation keys.
NEW_LIFECYCLE = {
    "finetune_deprecation": "finetuneDeprecationDate",
    "finetune_retirement": "finetuneRetirementDate",
    "inference_deprecation": "inferenceDeprecationDate",
    "inference_retirement": "inferenceRetirementDate",
}


def registry_discovery(api: Api, req: Request) -> Response:
    """Azure ML's public model registries exist for everyone (their models are served from the
    bundled catalogue, which holds `azureml`'s); any other registry answers as one this identity
    may not use does (recorded)."""
    if req.m["reg"] not in PUBLIC_REGISTRIES:
        return Response(403, _no_access(req.m["reg"]))
    return Response(
        200,
        {
            "registryId": str(uuid.UUID(int=0xAA)),
            "registryName": req.m["reg"],
            "tenantId": ZERO_ID,
            "primaryRegion": LOCATION,
            "regions": [LOCATION],
            "subscriptionId": "00000000-0000-0000-0000-0000000000aa",
            "resourceGroup": "registry-azureml",
            "workspaceName": None,
            "primaryRegionResourceProviderUri": api.url,
            "registryFqdns": {LOCATION: {"uri": api.url}},
            "intellectualPropertyPublisher": None,
        },
    )


def _no_access(name: str) -> dict[str, Any]:
    """The registry service's answer for a registry this identity may not use (recorded: 403,
    whether it exists or not; its own error format, not ARM's)."""
    return {
        "error": {
            "code": "UserError",
            "message": f"User/tenant/subscription is not allowed to access registry {name}",
            "messageFormat": (
                "User/tenant/subscription is not allowed to access registry {feedName}"
            ),
            "messageParameters": {"feedName": name},
            "details": [],
            "innerError": {
                "code": "Auth",
                "innerError": {
                    "code": "Authorization",
                    "innerError": {"code": "UnAuthorizedRegistryAccess"},
                },
            },
        },
        "correlation": {"operation": uuid.uuid4().hex, "request": uuid.uuid4().hex[:16]},
        "environment": LOCATION,
        "location": LOCATION,
        "time": now_iso(),
        "componentName": "feedmanagement",
        "statusCode": 403,
    }


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
    items = [_component(req, req.m["name"], v) for v in reversed(versions)]
    return Response(200, page(api, req, items))


def _container(req: Request, kind: str, versions: list[str]) -> Response:
    """A registry container (component or model): the same body shape for both."""
    if not versions or req.m["reg"] != REGISTRY:
        raise not_found(kind, req.m["name"])
    return Response(
        200,
        {
            "id": f"{_reg_base(req)}/{kind.lower()}s/{req.m['name']}",
            "name": req.m["name"],
            "properties": {"latestVersion": versions[-1], "isArchived": False},
            "systemData": system_data(),
        },
    )


def get_component_container(api: Api, req: Request) -> Response:
    return _container(req, "Component", list(catalog.component_versions(req.m["name"])))


def _iso(day: str) -> str:
    return f"{day}T00:00:00.000000Z"  # the new layout's timestamp form


def _model(api: Api, req: Request, name: str, ver: str) -> dict[str, Any]:
    mv = catalog.model(name, ver)
    if mv is None or req.m["reg"] != REGISTRY:
        raise not_found("Model", f"{name}:{ver}")
    mv = api.faults.registry_model(mv)  # a registry that moved on (faults.py: registry_model)
    # Each version is served in the layout(s) its registry spec uses: the old one keeps
    # everything in tags (lists and dicts as strings), the new one in systemMetadata.
    layouts = catalog.model_layouts(name, ver) or ["tags"]
    tags: dict[str, Any] = {
        "model_specific_defaults": json.dumps(mv.model_specific_defaults),
        "author": "Microsoft",
    }
    inner: dict[str, Any] = {}
    props: dict[str, Any] = {}
    if "tags" in layouts:
        tags.update(
            {
                "finetune_compute_allow_list": json.dumps(list(mv.finetune_allow_list)),
                "inference_compute_allow_list": json.dumps(list(mv.inference_allow_list)),
                "task": ", ".join(mv.inference_tasks) or "chat-completion",
            }
        )
        if mv.deployment_options:
            tags["deploymentOptions"] = ", ".join(mv.deployment_options)
        if mv.context_window:
            tags["textContextWindow"] = str(mv.context_window)
        for key, value in mv.lifecycle.items():
            tags[LIFECYCLE_TAGS.get(key, key)] = value
        inner = {
            "finetune-recommended-sku": ", ".join(mv.finetune_allow_list),
            "inference-recommended-sku": ", ".join(mv.inference_allow_list),
            "finetuning-tasks": ", ".join(mv.finetuning_tasks) or "chat-completion",
        }
        if mv.finetune_min_sku_spec:
            inner["finetune-min-sku-spec"] = mv.finetune_min_sku_spec
        if mv.inference_min_sku_spec:
            inner["inference-min-sku-spec"] = mv.inference_min_sku_spec
    if "system_metadata" in layouts:
        sku: dict[str, Any] = {
            "finetuneRecommendedSkus": list(mv.finetune_allow_list),
            "inferenceRecommendedSkus": list(mv.inference_allow_list),
        }
        if mv.finetune_min_sku_spec:
            sku["finetuneMinSkuSpec"] = mv.finetune_min_sku_spec
        if mv.inference_min_sku_spec:
            sku["inferenceMinSkuSpec"] = mv.inference_min_sku_spec
        system: dict[str, Any] = {
            "deploymentOptions": list(mv.deployment_options),
            "tasks": {
                "fineTuningTasks": list(mv.finetuning_tasks),
                "inferenceTasks": list(mv.inference_tasks),
            },
            "SKU": sku,
        }
        if mv.context_window:
            system["textContextWindow"] = mv.context_window
        if mv.lifecycle:
            system["deprecation"] = {
                NEW_LIFECYCLE[k]: _iso(v) for k, v in mv.lifecycle.items() if k in NEW_LIFECYCLE
            }
        props["systemMetadata"] = system
    return {
        "id": registry_uri(REGISTRY, MODELS, name, ver),
        "name": ver,
        "type": f"{PROVIDER}/registries/models/versions",
        "properties": {
            "modelType": "mlflow_model",
            "isArchived": mv.archived,
            "isAnonymous": False,
            "modelUri": registry_uri(REGISTRY, MODELS, name, ver),
            "description": f"{name} (bundled catalog)",
            "tags": tags,
            "properties": inner,
            **props,
            "flavors": {"hftransformersv2": {"data": {"task": "chat-completion"}}},
            "provisioningState": "Succeeded",
        },
        "systemData": system_data(),
    }


def get_model(api: Api, req: Request) -> Response:
    return Response(200, _model(api, req, req.m["name"], req.m["ver"]))


def list_models(api: Api, req: Request) -> Response:
    versions = catalog.model_versions(req.m["name"])
    items = [_model(api, req, req.m["name"], v) for v in reversed(versions)]
    return Response(200, page(api, req, items))


def get_model_container(api: Api, req: Request) -> Response:
    return _container(req, "Model", list(catalog.model_versions(req.m["name"])))


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
