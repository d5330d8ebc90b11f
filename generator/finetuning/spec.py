"""Rules of the `type: finetuning` job, in one place for params, rendering and validation.

Sources (facts §11-12): the SDK's finetuning schema (task values, string hyper-parameters), the
registry model metadata (`deploymentOptions`: MaaP = managed compute, ServerlessMaaS =
serverless fine-tuning and endpoints; `fineTuningTasks`), Microsoft's serverless fine-tuning
docs (model families and regions). Nothing here imports azure.ai.ml.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .. import catalog
from ..catalog import azure_limits

METHODS = ("pipeline", "finetuning_job")
# The SDK's FineTuningVertical task enum (snake case in YAML, camelCase on the wire).
TASKS = (
    "chat_completion",
    "text_completion",
    "text_classification",
    "question_answering",
    "text_summarization",
    "token_classification",
    "text_translation",
    "image_classification",
    "image_instance_segmentation",
    "image_object_detection",
    "video_multi_object_tracking",
)
# Compute kinds per method: the pipeline's inputs take a cluster or `serverless` sizes; the job
# takes `compute: <cluster>`, `resources.instance_types` or nothing (serverless).
COMPUTE_KINDS = {
    "pipeline": ("cluster", "serverless"),
    "finetuning_job": ("cluster", "instance_types", "serverless"),
}
MANAGED_OPTION = "MaaP"
SERVERLESS_OPTION = "ServerlessMaaS"
# Serverless fine-tuning exposes only these (the documented samples and the Foundry form);
# managed compute takes every literal input of the fine-tune component.
SERVERLESS_HYPERPARAMETERS = {
    "num_train_epochs": "integer",
    "per_device_train_batch_size": "integer",
    "learning_rate": "number",
}
# Serverless fine-tuning: model families and regions live with Azure's other published numbers
# (catalog/azure_limits.py, with their source and date).

# The part of the model id a serverless endpoint needs that exists only in the workspace.
LOCATION_PLACEHOLDER = "WORKSPACE_LOCATION"
WORKSPACE_ID_PLACEHOLDER = "WORKSPACE_ID"
REQUEST_API_VERSION = "2024-05-01-preview"


class FinetuningJob(BaseModel):
    """Settings of the `type: finetuning` job (method: finetuning_job)."""

    model_config = ConfigDict(extra="forbid", strict=True, validate_default=True)

    task: Literal["chat_completion"] = Field(
        "chat_completion",
        description="The job's task; the prepared data is chat rows, so chat_completion.",
    )
    region: str | None = Field(
        None,
        description=(
            "The workspace's Azure region (e.g. eastus2): checked offline against the regions "
            "serverless fine-tuning supports for the model; the run checks the live workspace."
        ),
    )
    display_name: str | None = Field(None, description="Default: `<model>-<dataset>-<compute>`.")


def task_slug(task: str) -> str:
    """Registry metadata writes tasks in kebab case (`chat-completion`)."""
    return task.replace("_", "-")


def normal_region(region: str) -> str:
    return azure_limits.normal_region(region)


def serverless_regions(model_name: str) -> tuple[str, ...] | None:
    """Regions where `model_name` fine-tunes serverless, or None when it is not a listed family."""
    family = azure_limits.serverless_family(model_name)
    return family.finetune_regions if family else None


def serving_kind(method: str, compute_kind: str) -> str:
    """A serverless fine-tune is served on a serverless endpoint; everything else managed."""
    return (
        "serverless" if method == "finetuning_job" and compute_kind == "serverless" else "managed"
    )


def support_problems(
    model_name: str,
    model_version: str,
    method: str,
    compute_kind: str,
    task: str = "chat_completion",
    region: str | None = None,
) -> list[tuple[str, str]]:
    """(params path, message) for every way the model does not support the chosen path."""
    out: list[tuple[str, str]] = []
    if compute_kind not in COMPUTE_KINDS.get(method, ()):
        allowed = ", ".join(COMPUTE_KINDS.get(method, ()))
        out.append(
            (
                "compute.kind",
                f"{compute_kind!r} is not a compute kind of method {method} (allowed: {allowed})",
            )
        )
        return out
    if method != "finetuning_job":
        return out
    meta = catalog.model(model_name, model_version)
    options = tuple(getattr(meta, "deployment_options", ()) or ()) if meta else ()
    tasks = tuple(getattr(meta, "finetuning_tasks", ()) or ()) if meta else ()
    if tasks and task_slug(task) not in tasks:
        out.append(
            (
                "finetuning_job.task",
                f"{model_name} {model_version} does not fine-tune for {task} "
                f"(fineTuningTasks: {', '.join(tasks)})",
            )
        )
    if compute_kind == "serverless":
        if options and SERVERLESS_OPTION not in options:
            out.append(
                (
                    "compute.kind",
                    f"{model_name} {model_version} has no {SERVERLESS_OPTION} deployment option "
                    f"({', '.join(options)}): fine-tune it on managed compute",
                )
            )
        regions = serverless_regions(model_name)
        if regions is None:
            out.append(
                (
                    "compute.kind",
                    f"{model_name} is not a model family that fine-tunes serverless (Phi-4, "
                    "Phi-4-mini-instruct, Llama 3.1/3.3, Mistral): use compute.kind cluster or "
                    "instance_types",
                )
            )
        elif region and normal_region(region) not in regions:
            out.append(
                (
                    "finetuning_job.region",
                    f"serverless fine-tuning of {model_name} is offered in {', '.join(regions)}, "
                    f"not {region}",
                )
            )
    elif options and MANAGED_OPTION not in options:
        out.append(
            (
                "compute.kind",
                f"{model_name} {model_version} has no {MANAGED_OPTION} (managed compute) "
                f"deployment option ({', '.join(options)}): use compute.kind serverless",
            )
        )
    return out


def allowed_hyperparameters(compute_kind: str, component_inputs: dict[str, Any]) -> list[str]:
    """Hyper-parameter names the job takes on this compute kind."""
    if compute_kind == "serverless":
        return sorted(SERVERLESS_HYPERPARAMETERS)
    return sorted(component_inputs)


def hyperparameter_string(value: Any) -> str:
    """The string the service parses: flags "true"/"false", numbers as Python writes them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def resolve_hyperparameters(
    compute_kind: str,
    finetune_inputs: dict[str, Any],
    user_set: set[str],
    component_inputs: dict[str, Any],
) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """The job's hyper-parameters as strings, and (path, message) for names it does not take.

    Inputs the user set must be taken; inputs that came from the model's defaults are dropped
    quietly when serverless does not take them (the service applies its own).
    """
    allowed = allowed_hyperparameters(compute_kind, component_inputs)
    out: dict[str, str] = {}
    problems: list[tuple[str, str]] = []
    for key, value in sorted(finetune_inputs.items()):
        if key in allowed:
            out[key] = hyperparameter_string(value)
        elif key in user_set:
            problems.append(
                (
                    f"finetune.{key}",
                    f"not a hyper-parameter of {compute_kind} fine-tuning jobs "
                    f"(allowed: {', '.join(allowed)})",
                )
            )
    return out, problems


def workspace_model_id(location: str, workspace_id: str, name: str, version: str) -> str:
    """The id a serverless endpoint deploys a fine-tuned workspace model by (MS docs)."""
    return (
        f"azureml://locations/{location}/workspaces/{workspace_id}/models/{name}/versions/{version}"
    )


def chat_request(score: dict[str, Any], parameters: dict[str, Any]) -> dict[str, Any]:
    """The Azure AI Model Inference body from the prepared managed-endpoint request.

    `sample_score.json` holds `input_data.input_string` (the conversation) and the generation
    parameters; chat completions take `messages` and OpenAI-style parameter names.
    """
    data = score.get("input_data") if isinstance(score, dict) else None
    messages: Any = None
    if isinstance(data, dict):
        messages = data.get("input_string")
        if isinstance(messages, list) and messages and isinstance(messages[0], list):
            messages = messages[0]
    if not isinstance(messages, list):
        messages = score.get("messages") if isinstance(score, dict) else None
    body: dict[str, Any] = {"messages": messages or []}
    names = {"max_new_tokens": "max_tokens", "temperature": "temperature", "top_p": "top_p"}
    for key, value in sorted(parameters.items()):
        if key in names:
            body[names[key]] = value
        elif key == "max_tokens":
            body["max_tokens"] = value
    return body
