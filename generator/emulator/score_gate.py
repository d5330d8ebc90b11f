"""The front door of an emulated endpoint's scoring server: every route needs an endpoint key.

gunicorn serves this WSGI app, which wraps the real azureml-inference-server-http app (running
score_standin.py). Azure answers no route of a key-auth endpoint's scoring URI without the key,
so neither does this: not `POST /score`, not a serverless endpoint's
`POST /chat/completions` (which also takes the key as an `api-key` header), not `GET /score`,
not the health route `GET /`, not `/swagger.json`. Liveness/readiness probes are run by the
platform against the container, not through the scoring URI; the emulator tells that its
server is up by the 401 it answers.

Keys are compared as sha256 hashes read per request from routes.json in AZUREML_MODEL_DIR (the
emulator rewrites it when keys, deployments or traffic change); the keys themselves are never
on disk.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from azureml_inference_server_http.server.entry import app as inference_app

ROUTES = Path(os.environ.get("AZUREML_MODEL_DIR", ".")) / "routes.json"
UNAUTHORIZED = {
    "error": {
        "code": "Unauthorized",
        "message": "Authentication failed: a valid endpoint key is required "
        "in the Authorization header (Bearer <key>).",
    }
}


def key_hashes() -> list[str]:
    try:
        hashes = json.loads(ROUTES.read_text(encoding="utf-8")).get("key_hashes", [])
    except (OSError, ValueError, AttributeError):
        return []
    return [h for h in hashes if isinstance(h, str)]


def authorized(header: str, hashes: list[str], api_key: str = "") -> bool:
    if header.startswith("Bearer "):
        key = header[len("Bearer ") :]
    elif api_key:
        key = api_key  # the Azure AI Model Inference API also takes the key as `api-key`
    else:
        return False
    digest = hashlib.sha256(key.encode()).hexdigest()
    return any(hmac.compare_digest(digest, h) for h in hashes)


CHAT_PATH = "/chat/completions"


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    chat = environ.get("PATH_INFO", "") == CHAT_PATH
    api_key = environ.get("HTTP_API_KEY", "") if chat else ""
    if authorized(environ.get("HTTP_AUTHORIZATION", ""), key_hashes(), api_key):
        if chat:
            # The inference server routes only /score: the stand-in answers the chat shape there.
            environ["PATH_INFO"] = "/score"
            environ["HTTP_X_AMLGEN_API"] = "chat-completions"
        result: Iterable[bytes] = inference_app(environ, start_response)
        return result
    body = json.dumps(UNAUTHORIZED).encode()
    start_response(
        "401 Unauthorized",
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("WWW-Authenticate", "Bearer"),
        ],
    )
    return [body]
