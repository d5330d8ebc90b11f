"""The client side of a connection to a local Azure ML service on loopback (the emulator).

Three pieces make the real SDK talk plain http to 127.0.0.1 (facts §3): custom cloud metadata
whose endpoints all point at the local service, a bearer policy that allows http, and a
credential minting HS256 JWTs from the shared secret whose `aud` is the cloud's aml_resource_id
(pipeline submission decodes the token and checks it). Tokens are bearer secrets sent over plain
http, so every piece first refuses a URL that is not on loopback (`check_loopback`).
"""

from __future__ import annotations

import ipaddress
import time
import urllib.parse
from typing import TYPE_CHECKING, Any

from ..errors import WorkflowError
from ..reading import clip

if TYPE_CHECKING:
    from azure.ai.ml import MLClient

EMULATOR_SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
TOKEN_SECONDS = 3600


def check_loopback(url: str) -> str:
    """`url` with a trailing slash if it names an http(s) server on this machine's loopback.

    Raised before any token is made: the emulator's key must never travel to another host."""
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018  (raises ValueError for a bad port)
    except ValueError:
        host, parts = "", None
    loopback = host == "localhost"
    if not loopback:
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
    if parts is None or parts.scheme not in ("http", "https") or not loopback:
        raise WorkflowError(
            f"emulator URL {clip(url, 80)}: only a loopback address is accepted "
            "(http://127.0.0.1:PORT/ or http://localhost:PORT/); the emulator's token is never "
            "sent to another host"
        )
    return url if url.endswith("/") else url + "/"


def make_token(url: str, secret: str, seconds: int = TOKEN_SECONDS) -> str:
    """An HS256 JWT the emulator accepts: `aud` is the emulator URL, with or without the
    trailing slash (the SDK's aml_resource_id drops it)."""
    import jwt

    check_loopback(url)
    now = int(time.time())
    claims = {
        "aud": url,
        "iss": "amlgen-emulator",
        "tid": "emulator",
        "oid": "emulator-user",
        "iat": now,
        "exp": now + seconds,
    }
    return jwt.encode(claims, secret, algorithm="HS256")


class EmulatorCredential:
    """A TokenCredential minting emulator JWTs whose `aud` is the requested resource, as Entra
    ID does (the SDK asks for `<aml_resource_id>/.default` and compares `aud` with it)."""

    def __init__(self, url: str, secret: str) -> None:
        self._url = check_loopback(url)
        self._secret = secret

    def _token(self, scopes: tuple[str, ...]) -> str:
        aud = scopes[0].removesuffix("/.default") if scopes else self._url
        return make_token(aud, self._secret)

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        return AccessToken(self._token(scopes), int(time.time()) + TOKEN_SECONDS - 60)

    def get_token_info(self, *scopes: str, options: Any = None) -> Any:
        from azure.core.credentials import AccessTokenInfo

        return AccessTokenInfo(self._token(scopes), int(time.time()) + TOKEN_SECONDS - 60)


def cloud_name(url: str) -> str:
    """The SDK keeps custom clouds in a process-wide table that cannot be overwritten, so each
    emulator address needs its own cloud name."""
    netloc = url.split("://", 1)[-1].strip("/")
    return "AmlgenEmulator-" + netloc.replace(":", "-").replace(".", "-")


def cloud_metadata(url: str) -> dict[str, str]:
    """All six keys the SDK needs for a custom cloud; storage is unreachable (see uploads.py)."""
    return {
        "azure_portal": url + "portal/",
        "resource_manager": url,
        "active_directory": url + "login/",
        "aml_resource_id": url,
        "storage_endpoint": "emulator.invalid",
        "registry_discovery_endpoint": url,
    }


def http_bearer_policy(credential: Any, scope: str) -> Any:
    """A bearer policy that also sends its token over http (loopback only, see check_loopback)."""
    from azure.core.pipeline.policies import BearerTokenCredentialPolicy

    class HttpBearerPolicy(BearerTokenCredentialPolicy):
        """azure-core refuses bearer tokens over http unless each request opts out."""

        def on_request(self, request: Any) -> Any:
            request.context.options["enforce_https"] = False
            return super().on_request(request)

    return HttpBearerPolicy(credential, scope)


def emulator_client(
    url: str,
    secret: str,
    *,
    subscription_id: str = EMULATOR_SUBSCRIPTION,
    resource_group: str = "amlgen-emulator",
    workspace: str = "emulator-ws",
    registry_name: str | None = None,
) -> MLClient:
    """A real MLClient whose every call goes to the local emulator at `url` (loopback only)."""
    from azure.ai.ml import MLClient

    url = check_loopback(url)
    credential = EmulatorCredential(url, secret)
    kwargs: dict[str, Any] = {}
    if registry_name is None:
        kwargs["workspace_name"] = workspace
    else:
        kwargs["registry_name"] = registry_name
    return MLClient(
        credential,
        subscription_id,
        resource_group,
        enable_telemetry=False,
        cloud=cloud_name(url),
        cloud_metadata=cloud_metadata(url),
        authentication_policy=http_bearer_policy(credential, url + ".default"),
        show_progress=False,
        **kwargs,
    )
