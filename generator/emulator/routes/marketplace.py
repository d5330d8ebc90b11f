"""Marketplace subscriptions family: `/marketplaceSubscriptions/{name}` as ARM long-running
operations.

Shapes follow the SDK's generated REST models (arm_ml_service): MarketplaceSubscription
{properties: MarketplaceSubscriptionProperties {modelId, marketplacePlan {publisherId, offerId,
planId} (read only), marketplaceSubscriptionStatus, provisioningState}}. The SDK's entity reads
`marketplacePlan` unconditionally, so every answer carries one. A subscription is to a
registry model without a version; Microsoft's own models (`azureml` registry) have no offer:
they need no subscription (facts §12), and the service refuses one.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from ...catalog.uri import MODELS, parse_registry_uri
from ..arm import (
    PROVIDER,
    WS,
    ApiError,
    Family,
    Request,
    Response,
    Route,
    body_dict,
    not_found,
    public,
    system_data,
)
from ..arm import Service as Api

SECTION = "marketplace_subscriptions"
NAME = re.compile(r"^[a-zA-Z0-9][-a-zA-Z0-9]{0,49}$")


def _offer(model_id: str) -> dict[str, str]:
    m = parse_registry_uri(model_id, MODELS)
    if m is None or m.version:
        raise ApiError(
            400,
            "BadRequest",
            f"Model id '{model_id}' is not a marketplace model: expected "
            "azureml://registries/<registry>/models/<name> (no version).",
        )
    if m.registry.lower() == "azureml":
        raise ApiError(
            400,
            "BadRequest",
            f"Model '{m.name}' of registry azureml has no marketplace offer: Microsoft models "
            "are deployed without a subscription.",
        )
    publisher = m.registry.lower().removeprefix("azureml-") or m.registry.lower()
    return {"publisherId": publisher, "offerId": m.name.lower(), "planId": "standard"}


def get_subscription(api: Api, req: Request) -> Response:
    sub = api.data[SECTION].get(req.m["name"])
    if sub is None:
        raise not_found("Marketplace subscription", req.m["name"])
    return Response(200, public(sub))


def put_subscription(api: Api, req: Request) -> Response:
    name = req.m["name"]
    if not NAME.match(name):
        raise ApiError(
            400,
            "BadRequest",
            f"Marketplace subscription name '{name}' is invalid: 1-50 letters, digits and "
            "hyphens, starting with a letter or digit.",
        )
    props = body_dict(req).get("properties")
    model_id = str(props.get("modelId") or "") if isinstance(props, dict) else ""
    plan = _offer(model_id)
    with api.store.lock:
        existing = api.data[SECTION].get(name)
        if existing is not None:
            if existing["properties"]["modelId"] != model_id:
                raise ApiError(
                    409,
                    "Conflict",
                    f"Marketplace subscription '{name}' is to another model "
                    f"({existing['properties']['modelId']}).",
                )
            return Response(200, public(existing))
        ws = req.path.split("/marketplaceSubscriptions/")[0]
        api.data[SECTION][name] = {
            "id": f"{ws}/marketplaceSubscriptions/{name}",
            "name": name,
            "type": f"{PROVIDER}/workspaces/marketplaceSubscriptions",
            "systemData": system_data(),
            "properties": {
                "modelId": model_id,
                "marketplacePlan": plan,
                "marketplaceSubscriptionStatus": "Subscribed",
                "provisioningState": "Creating",
            },
        }
        op = api.start_op("marketplace-create", [name], 0.2)
        api.store.save()
        view = public(api.data[SECTION][name])
    return Response(201, view, api.op_headers(req, op))


def delete_subscription(api: Api, req: Request) -> Response:
    with api.store.lock:
        if api.data[SECTION].pop(req.m["name"], None) is None:
            return Response(204)
        api.store.save()
    return Response(200, None)


def _created(api: Api, op: dict[str, Any]) -> Callable[[], None] | None:
    sub = api.data[SECTION].get(op["target"][0])
    if sub:
        sub["properties"]["provisioningState"] = op["outcome"]
    return None


SUBSCRIPTION = WS + r"/marketplaceSubscriptions/(?P<name>[^/]+)"
FAMILY = Family(
    "marketplace",
    (
        Route("GET", SUBSCRIPTION, get_subscription),
        Route("PUT", SUBSCRIPTION, put_subscription),
        Route("DELETE", SUBSCRIPTION, delete_subscription),
    ),
    sections=(SECTION,),
    finish={"marketplace-create": _created},
)
