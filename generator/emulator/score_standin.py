"""Stand-in scoring script for the emulator's real azureml-inference-server-http.

It honours the chat-completion contract of an MLflow chat model deployment
(`{"input_data": {"input_string": [messages], "parameters": {...}}}` in, `{"output": str}` out)
but is NOT a model: the answer says so and echoes the last user turn. Behind the key check of
score_gate.py (every route), it also routes by `azureml-model-deployment` header or traffic,
read per request from routes.json in AZUREML_MODEL_DIR, which the emulator rewrites when
deployments or traffic change.
"""

from __future__ import annotations

import json
import os
import random
import signal
import threading
import time
from pathlib import Path
from typing import Any

from azureml_inference_server_http.api.aml_request import rawhttp
from azureml_inference_server_http.api.aml_response import AMLResponse

ROLES = ("system", "user", "assistant", "tool")
_routes_file = Path()

# Generation parameters a Hugging Face chat model accepts, with their JSON types.
PARAMETERS: dict[str, tuple[type, ...]] = {
    "temperature": (int, float),
    "top_p": (int, float),
    "top_k": (int,),
    "max_new_tokens": (int,),
    "max_length": (int,),
    "do_sample": (bool,),
    "repetition_penalty": (int, float),
    "num_beams": (int,),
    "return_full_text": (bool,),
}


def init() -> None:
    global _routes_file
    _routes_file = Path(os.environ["AZUREML_MODEL_DIR"]) / "routes.json"
    owner = os.environ.get("AMLGEN_EMULATOR_PID")
    if owner:
        threading.Thread(target=_watch_owner, args=(int(owner),), daemon=True).start()


def _watch_owner(pid: int) -> None:
    """Stop this server when the emulator that started it is gone (e.g. killed with -9)."""
    while True:
        time.sleep(2)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            os.kill(os.getppid(), signal.SIGTERM)  # the gunicorn master, which stops the worker
            return
        except PermissionError:
            pass


def _error(status: int, code: str, message: str) -> AMLResponse:
    return AMLResponse({"error": {"code": code, "message": message}}, status, json_str=True)


def _pick(routes: dict[str, Any], wanted: str | None) -> str | AMLResponse:
    deployments: dict[str, Any] = routes.get("deployments", {})
    if wanted:
        if wanted not in deployments:
            return _error(
                404,
                "DeploymentNotFound",
                f"Deployment '{wanted}' does not exist on endpoint '{routes['endpoint']}'.",
            )
        return wanted
    weighted = [(n, d.get("traffic", 0)) for n, d in sorted(deployments.items())]
    weighted = [(n, w) for n, w in weighted if w > 0]
    if not weighted:
        return _error(
            404,
            "NoValidDeployments",
            "No valid deployments to route to. Please check that the endpoint has at least "
            "one deployment with positive weight values or use a deployment specific "
            "header to route.",
        )
    names, weights = zip(*weighted, strict=True)
    return random.choices(names, weights=weights)[0]


def _check_body(body: Any) -> tuple[list[dict[str, str]], dict[str, Any]] | str:
    if not isinstance(body, dict) or not isinstance(body.get("input_data"), dict):
        return "The request body must be a JSON object with an 'input_data' object."
    data = body["input_data"]
    messages = data.get("input_string")
    where = "input_data.input_string"
    if not isinstance(messages, list) or not messages:
        return f"{where} must be a non-empty list of chat messages."
    # Both shapes occur: a list of messages, or (as the fine-tuning notebook sends it) a list
    # holding one conversation.
    if len(messages) == 1 and isinstance(messages[0], list):
        messages, where = messages[0], f"{where}[0]"
        if not messages:
            return f"{where} must be a non-empty list of chat messages."
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict) or msg.get("role") not in ROLES:
            return f"{where}[{i}].role must be one of {', '.join(ROLES)}."
        if not isinstance(msg.get("content"), str):
            return f"{where}[{i}].content must be a string."
    params = data.get("parameters", {})
    if not isinstance(params, dict):
        return "input_data.parameters must be an object."
    for key, value in params.items():
        types = PARAMETERS.get(key)
        if types is None:
            return f"input_data.parameters.{key} is not a generation parameter of this model."
        if not isinstance(value, types) or (bool not in types and isinstance(value, bool)):
            return f"input_data.parameters.{key} has the wrong type ({type(value).__name__})."
    return messages, params


# The Azure AI Model Inference API's chat-completions body (serverless endpoints, facts §12).
CHAT_PARAMETERS: dict[str, tuple[type, ...]] = {
    "temperature": (int, float),
    "top_p": (int, float),
    "max_tokens": (int,),
    "presence_penalty": (int, float),
    "frequency_penalty": (int, float),
    "seed": (int,),
    "stop": (list,),
    "stream": (bool,),
    "model": (str,),
}


def _check_chat(body: Any) -> list[dict[str, str]] | str:
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
        return "The request body must be a JSON object with a 'messages' list."
    messages = body["messages"]
    if not messages:
        return "messages must be a non-empty list of chat messages."
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict) or msg.get("role") not in ROLES:
            return f"messages[{i}].role must be one of {', '.join(ROLES)}."
        if not isinstance(msg.get("content"), str):
            return f"messages[{i}].content must be a string."
    for key, value in body.items():
        if key == "messages":
            continue
        types = CHAT_PARAMETERS.get(key)
        if types is None:
            return f"'{key}' is not a parameter of chat completions (input_data is the " + (
                "managed endpoint's shape)" if key == "input_data" else "API's body)"
            )
        if not isinstance(value, types) or (bool not in types and isinstance(value, bool)):
            return f"'{key}' has the wrong type ({type(value).__name__})."
    if body.get("stream"):
        return "stream: the amlgen emulator answers whole responses only."
    return messages


def _chat(routes: dict[str, Any], request: Any) -> AMLResponse:
    if request.method != "POST":
        return _error(405, "MethodNotAllowed", "Use POST for chat completions.")
    if routes.get("api") != "chat-completions":
        return _error(404, "NotFound", "This endpoint does not serve /chat/completions.")
    try:
        body = json.loads(request.get_data(as_text=True) or "null")
    except ValueError:
        return _error(400, "BadRequest", "The request body is not valid JSON.")
    checked = _check_chat(body)
    if isinstance(checked, str):
        return _error(422, "UnprocessableEntity", checked)
    last_user = next((m["content"] for m in reversed(checked) if m["role"] == "user"), "")
    served: dict[str, Any] = next(iter(routes["deployments"].values()), {})
    model = served.get("model", "?")
    answer = f"[amlgen emulator stand-in, not a model: {model}] You said: {last_user}"
    prompt_tokens = sum(len(m["content"].split()) for m in checked)
    out = {
        "id": f"chatcmpl-{random.getrandbits(64):016x}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": answer},
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": len(answer.split()),
            "total_tokens": prompt_tokens + len(answer.split()),
        },
    }
    return AMLResponse(out, 200, {}, json_str=True)


@rawhttp
def run(request: Any) -> AMLResponse:
    routes = json.loads(_routes_file.read_text(encoding="utf-8"))  # the key passed score_gate.py
    if request.headers.get("x-amlgen-api") == "chat-completions":
        return _chat(routes, request)
    if routes.get("api") == "chat-completions":
        return _error(404, "NotFound", "A serverless endpoint serves POST /chat/completions.")
    if request.method != "POST":
        return _error(405, "MethodNotAllowed", "Use POST to score.")
    picked = _pick(routes, request.headers.get("azureml-model-deployment"))
    if isinstance(picked, AMLResponse):
        return picked
    try:
        body = json.loads(request.get_data(as_text=True) or "null")
    except ValueError:
        return _error(400, "BadRequest", "The request body is not valid JSON.")
    checked = _check_body(body)
    if isinstance(checked, str):
        return _error(400, "BadRequest", checked)
    messages, _params = checked
    last_user = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
    model = routes["deployments"][picked].get("model", "?")
    answer = (
        f"[amlgen emulator stand-in, not a model: deployment '{picked}' of {model}] "
        f"You said: {last_user}"
    )
    return AMLResponse({"output": answer}, 200, {"azureml-model-deployment": picked}, json_str=True)
