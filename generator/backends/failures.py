"""Why a read or a call failed: the one place that tells a missing resource from a failed read.

A resource is missing only when the service says so for that resource: `az`'s not-found exit
(3, its ResourceNotFoundError for a 404) or the SDK's ResourceNotFoundError, and only when the
message does not name a missing parent instead (the workspace, its resource group or
subscription, a registry: those 404s are errors, not an absent model). A broken `az` (a
traceback, the ml extension missing), a sign-in failure, a missing parent or an unexpected
answer is one line naming the cause and the fix. 403 is "not allowed to read it"; throttling,
5xx and lost connections are transient (the callers retry, then say so).
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import WorkflowError

NOT_FOUND = "not found"
FORBIDDEN = "forbidden"
TRANSIENT = "transient"
AUTH = "auth"
BROKEN_AZ = "broken az"
NO_EXTENSION = "no ml extension"
PARENT_MISSING = "parent missing"
OTHER = "other"
AZ_NOT_FOUND_EXIT = 3  # azure-cli's exit code for its ResourceNotFoundError (a 404)

_NO_EXTENSION = re.compile(r"'ml' is misspelled or not recognized", re.IGNORECASE)
_BROKEN = re.compile(
    r"Traceback \(most recent call last\)|\b(?:ModuleNotFoundError|ImportError|SyntaxError)\b|"
    r"No module named|command not found|cannot execute",
)
_AUTH = re.compile(
    r"az login|AADSTS\d+|ClientAuthenticationError|CredentialUnavailableError|"
    r"DefaultAzureCredential failed|refresh token (?:has )?expired|InvalidAuthenticationToken|"
    r"ExpiredAuthenticationToken|AuthenticationFailed|UnauthorizedError|\(Unauthorized\)|"
    r"\b401\b",
    re.IGNORECASE,
)
_FORBIDDEN = re.compile(
    r"AuthorizationFailed|Forbidden|\b403\b|does not have (?:authorization|permission)|"
    r"is not allowed to access",
    re.IGNORECASE,
)
_TRANSIENT = re.compile(
    r"TooManyRequests|ServiceUnavailable|InternalServerError|BadGateway|GatewayTimeout|"
    r"\b(?:429|500|502|503|504)\b|ServiceRequestError|ServiceResponseError|"
    r"Connection(?:Error| refused| reset| aborted)|RemoteDisconnected|timed out|"
    r"Failed to establish a new connection|Name or service not known|"
    r"Temporary failure in name resolution|Max retries exceeded",
    re.IGNORECASE,
)
# A 404 that is about the resource's parent, not the resource (ARM's and Azure ML's words).
_PARENT = re.compile(
    r"ResourceGroupNotFound|SubscriptionNotFound|ParentResourceNotFound|WorkspaceNotFound|"
    r"Microsoft\.MachineLearningServices/workspaces/[^'\"\s/]+['\"]? under resource group|"
    r"\bworkspace\b[^.\n]{0,80}\b(?:was not found|could not be found|does not exist)|"
    r"\b(?:resource group|subscription)\b[^.\n]{0,80}\bcould not be found|"
    r"\bregistry\b[^.\n]{0,80}\b(?:was not found|could not be found|does not exist)",
    re.IGNORECASE,
)


class TransientError(WorkflowError):
    """A call failed in a way worth retrying (connection lost, server restarting)."""


def classify_az(returncode: int, stderr: str, name: str | None = None) -> str:
    """What an `az` failure means, from its exit code and what it printed."""
    text = stderr or ""
    # The ml extension's own not-found sentence for some deletes (exit 1 with a traceback).
    if name and re.search(rf"\b{re.escape(name)} does not exist\b", text):
        return NOT_FOUND
    if _NO_EXTENSION.search(text):
        return NO_EXTENSION
    if _BROKEN.search(text):
        return BROKEN_AZ
    if _FORBIDDEN.search(text):
        return FORBIDDEN
    if _AUTH.search(text):
        return AUTH
    if _PARENT.search(text):
        return PARENT_MISSING
    if returncode == AZ_NOT_FOUND_EXIT:
        return NOT_FOUND
    if _TRANSIENT.search(text):
        return TRANSIENT
    return OTHER


def classify_exception(exc: BaseException) -> str:
    """What an SDK exception means, from its type (and, for a 404, whose absence it reports)."""
    from azure.core.exceptions import (
        ClientAuthenticationError,
        HttpResponseError,
        ResourceNotFoundError,
        ServiceRequestError,
        ServiceResponseError,
    )

    text = str(exc)
    if isinstance(exc, ResourceNotFoundError):
        return PARENT_MISSING if _PARENT.search(text) else NOT_FOUND
    if isinstance(exc, ClientAuthenticationError) or type(exc).__name__ in (
        "CredentialUnavailableError",
        "AuthenticationRequiredError",
    ):
        return AUTH
    if isinstance(exc, (ServiceRequestError, ServiceResponseError)):
        return TRANSIENT
    if isinstance(exc, HttpResponseError):
        code = getattr(exc, "status_code", None)
        if code == 401:
            return AUTH
        if code == 403:
            return FORBIDDEN
        if code == 404:
            return PARENT_MISSING if _PARENT.search(text) else NOT_FOUND
        if code == 429 or (isinstance(code, int) and code >= 500):
            return TRANSIENT
    return OTHER


def detail(text: str) -> str:
    """The line of a failure's output that says what went wrong."""
    lines = [ln.strip() for ln in (text or "").splitlines() if ln.strip()]
    if not lines:
        return "no message"
    if any(ln.startswith("Traceback (most recent call last)") for ln in lines):
        return lines[-1][:240]  # the exception itself
    for ln in lines:
        if ln.startswith("ERROR:"):
            return ln.removeprefix("ERROR:").strip()[:240]
    return lines[0][:240]


def exception_detail(exc: BaseException) -> str:
    message: Any = getattr(exc, "message", None) or str(exc)
    first = detail(str(message))
    return first if first != "no message" else type(exc).__name__


def not_allowed(what: str) -> WorkflowError:
    """403: one line naming the resource and the fix."""
    return WorkflowError(
        f"{what}: not allowed to read it (403): ask for a role that can read it on the "
        "workspace or registry (e.g. AzureML Data Scientist), or sign in as another identity"
    )


def failure(
    cause: str, what: str, text: str, *, emulated: bool = False, real_az: bool = False
) -> WorkflowError:
    """The one-line error for a failure that is not "not found" (`text`: its detail line).
    `real_az`: the Azure CLI itself ran against the emulator (it runs signed out there)."""
    if cause == FORBIDDEN:
        return not_allowed(what)
    if cause == TRANSIENT:
        return TransientError(f"{what}: {text}")
    if cause == AUTH:
        fix = (
            "the Azure CLI cannot reach the local emulator (it runs signed out against it): "
            "use --backend sdk"
            if emulated and real_az
            else "the emulator refused the token: set AMLGEN_EMULATOR_SECRET to its key (in "
            "the connection file amlgen-emulator wrote)"
            if emulated
            else "not signed in to Azure: run `az login` (or sign in another way "
            "DefaultAzureCredential accepts) and run again"
        )
        return WorkflowError(f"{what}: cannot read it: {fix} ({text})")
    if cause == BROKEN_AZ:
        return WorkflowError(
            f"{what}: cannot read it: the Azure CLI failed before reaching Azure ({text}): "
            "repair it (reinstall the Azure CLI, then `az extension add -n ml --upgrade`), "
            "or use --backend sdk"
        )
    if cause == NO_EXTENSION:
        return WorkflowError(
            f"{what}: cannot read it: the Azure CLI has no `ml` extension: run "
            "`az extension add -n ml`, or use --backend sdk"
        )
    if cause == PARENT_MISSING:
        return WorkflowError(
            f"{what}: cannot read it: what it belongs to is not there ({text}): check the "
            "workspace (--subscription, --resource-group, --workspace or config.json) and "
            "the registry name"
        )
    return WorkflowError(f"{what}: {text}")


def read_title(
    kind: str,
    name: str,
    version: str | None = None,
    endpoint: str | None = None,
    registry: str | None = None,
) -> str:
    """How a read names its resource in an error line."""
    label = kind.replace("_", " ")
    if registry:
        return f"registry {registry} {label.replace('registry ', '')} {name}:{version}"
    if endpoint:
        return f"{label} {endpoint}/{name}"
    return f"{label} {name}" + (f":{version}" if version else "")
