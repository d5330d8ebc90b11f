"""The typed parameters model: every section, unknown keys forbidden, bounds from
generator.limits; the fine-tune section typed from the registry component's own interface (the
bundled catalog), so the schema lists every real component input with its description, enum
and minimum."""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    create_model,
    field_validator,
)

from .. import catalog, limits
from ..finetuning import spec as ftspec
from .fields import (
    Budget,
    Deployment,
    Endpoint,
    Inference,
    Job,
    RegisteredModel,
    Strict,
    VersionStr,
    bounded,
    named,
)

COMPONENT_NAME = "chat_completion_pipeline"
PARAMS_DIR = "params"
BASE_FILE = "base.yaml"
SCHEMA_FILE = "params.schema.json"

# Component inputs that amlgen derives from other sections instead of taking them verbatim.
DERIVED_INPUTS = {
    "mlflow_model_path": "model",
    "train_file_path": "data",
    "test_file_path": "data",
    "validation_file_path": "data.validation_split",
    "compute_model_import": "compute",
    "compute_preprocess": "compute",
    "compute_finetune": "compute",
    "compute_model_evaluation": "compute",
    "instance_type_model_import": "compute.cpu_size",
    "instance_type_preprocess": "compute.cpu_size",
    "instance_type_finetune": "compute.size",
    "instance_type_model_evaluation": "compute.size",
    "number_of_gpu_to_use_finetuning": "compute.gpus_per_node",
    "num_nodes_finetune": "compute.nodes",
}


class ModelRef(Strict):
    """The base model in a registry."""

    name: str = Field(
        "Phi-4",
        description=(
            "Registry model name. Names, descriptions, VM sizes, model-specific defaults and the "
            "checks that depend on the model follow it unless set explicitly."
        ),
    )
    registry: str = Field("azureml", description="Registry that holds the model.")
    version: VersionStr = Field(
        "8",
        description="Pinned model version (the notebook's `latest` label is not reproducible).",
    )
    specific_defaults: Literal["override", "fill", "ignore"] = Field(
        "override",
        description=(
            "How the model's `model_specific_defaults` tag is merged into `finetune`: `override` "
            "(what the notebook does: the tag wins), `fill` (only unset inputs), or `ignore` "
            "(not `off`: YAML 1.1 reads that as false)."
        ),
    )
    acknowledged_lifecycle: Literal["deprecated", "retired"] | None = Field(
        None,
        description=(
            "A reviewed acknowledgement that this environment keeps a deprecated (or retired) "
            "model on purpose, e.g. for reference: `validate` then reports the model's lifecycle "
            "as a note, so `--strict` passes. `retired` covers deprecated too. Submitting to "
            "Azure still refuses a retired model."
        ),
    )


class ComponentRef(Strict):
    """The registry pipeline component that fine-tunes."""

    name: Literal["chat_completion_pipeline"] = "chat_completion_pipeline"
    registry: str = "azureml"
    version: VersionStr = Field("0.0.82", description="Pinned component version.")


class Compute(Strict):
    """Where fine-tuning runs: a named AmlCompute cluster, serverless, or (fine-tuning job
    only) a list of instance types the service chooses from."""

    kind: Literal["cluster", "serverless", "instance_types"] = Field(
        "cluster",
        description=(
            "cluster: the named AmlCompute cluster; serverless: serverless compute (the "
            "pipeline's sized serverless steps, or the fine-tuning job's serverless MaaS "
            "fine-tuning); instance_types: method finetuning_job only, `instance_types`."
        ),
    )
    name: named(limits.compute_name) = Field(  # type: ignore[valid-type]
        "gpu-a100", description="Cluster name (kind: cluster)."
    )
    size: str | None = Field(
        None,
        description=(
            "GPU VM size of the cluster or serverless nodes. Default: the model's first "
            "recommended fine-tuning size that is a current GPU size."
        ),
    )
    cpu_size: str = Field(
        "Standard_D12_v2", description="Serverless VM size for model import and preprocessing."
    )
    nodes: bounded(int, limits.COMPUTE_NODES) = Field(  # type: ignore[valid-type]
        1, description="Nodes for fine-tuning (num_nodes_finetune)."
    )
    gpus_per_node: bounded(int, limits.GPUS_PER_NODE) | None = Field(  # type: ignore[valid-type]
        None, description="Override the GPU count; by default it comes from the VM size."
    )
    min_instances: bounded(int, limits.COMPUTE_INSTANCES) = 0  # type: ignore[valid-type]
    max_instances: bounded(int, limits.COMPUTE_NODES) = 1  # type: ignore[valid-type]
    idle_time_before_scale_down: bounded(int, limits.IDLE_SECONDS) = Field(  # type: ignore[valid-type]
        1800, description="Seconds."
    )
    tier: Literal["dedicated", "low_priority"] = "dedicated"
    instance_types: list[str] = Field(
        default_factory=list,
        description="kind instance_types: VM sizes the fine-tuning job's service picks from.",
    )

    @field_validator("max_instances")
    @classmethod
    def _scale(cls, value: int, info: ValidationInfo) -> int:
        problem = limits.scale(info.data.get("min_instances"), value)
        if problem:
            raise ValueError(problem)
        nodes = info.data.get("nodes")
        if info.data.get("kind") == "cluster" and isinstance(nodes, int) and nodes > value:
            raise ValueError(
                f"the cluster's max_instances {value} is below compute.nodes {nodes}: "
                "the job would wait forever"
            )
        return value


class Data(Strict):
    """The chat dataset and how much of it to use."""

    source: str = Field(
        "HuggingFaceH4/ultrachat_200k", description="Hub id or a local folder in the hub layout."
    )
    tag: str = Field("ultrachat", description="Short dataset name used in the job display name.")
    split_percent: bounded(float, limits.SPLIT_PERCENT) = Field(  # type: ignore[valid-type]
        5, description="Percentage of each split to use."
    )
    sample: Literal["first", "random"] = Field(
        "first",
        description="`first` takes `split[:P%]` as the seed does; `random` a seeded sample.",
    )
    seed: bounded(int, limits.SEED) = 42  # type: ignore[valid-type]
    dir: str = Field("data/ultrachat_200k", description="Output folder, relative to the project.")
    splits: list[str] = Field(
        default_factory=lambda: ["train_sft", "test_sft", "train_gen", "test_gen"],
        min_length=1,
    )
    train_split: str = "train_sft"
    test_split: str = "test_sft"
    validation_split: str | None = Field(
        None,
        description=(
            "A prepared split to pass as the component's validation_file_path (by default the "
            "component holds out part of the training data)."
        ),
    )
    score_split: str = Field("test_gen", description="Split the endpoint test request comes from.")
    on_invalid: Literal["drop", "fail"] = "drop"

    @field_validator("validation_split")
    @classmethod
    def _prepared(cls, v: str | None, info: ValidationInfo) -> str | None:
        splits = info.data.get("splits") or []
        if v is not None and v not in splits:
            raise ValueError(f"{v!r} is not prepared: add it to data.splits ({', '.join(splits)})")
        if v is not None and v == info.data.get("train_split"):
            raise ValueError(f"{v!r} is the training split: pick another")
        return v


# --- the fine-tune section, typed from the component catalog ---------------------------------


def _finetune_field(spec: catalog.InputSpec) -> tuple[Any, Any]:
    desc = spec.description
    kwargs: dict[str, Any] = {"description": desc} if desc else {}
    if spec.min is not None:
        kwargs["ge"] = spec.min
    if spec.max is not None:
        kwargs["le"] = spec.max
    if spec.is_flag:
        return (bool | None, Field(None, **kwargs))
    if spec.enum is not None:
        values = tuple(spec.enum)
        ints = tuple(int(v) for v in values if re.fullmatch(r"\d+", v))
        if ints and len(ints) == len(values):
            # "16"/"32", "2"/"3": people write numbers; the component wants the string.
            return (Literal[ints] | Literal[values] | None, Field(None, **kwargs))
        return (Literal[values] | None, Field(None, **kwargs))
    bound = limits.FINETUNE.get(spec.name)
    if spec.type == "integer":
        kind: Any = bounded(int, bound) if bound else int
        return (kind | None, Field(None, **kwargs))
    if spec.type == "number":
        kind = bounded(float, bound) if bound else float
        return (kind | None, Field(None, **kwargs))
    if spec.type == "boolean":
        return (bool | None, Field(None, **kwargs))
    return (str | None, Field(None, **kwargs))


def _finetune_model() -> type[BaseModel]:
    fields = {
        name: _finetune_field(spec)
        for name, spec in sorted(catalog.all_component_inputs(COMPONENT_NAME).items())
        if spec.is_literal and name not in DERIVED_INPUTS and name != "task_name"
    }
    model = create_model(  # type: ignore[call-overload]
        "Finetune",
        __config__=ConfigDict(extra="forbid", strict=True, allow_inf_nan=False),
        __doc__=(
            "Inputs of the chat_completion_pipeline component. Unset inputs take the component's "
            'default. Flags are booleans here and rendered as the component\'s "true"/"false".'
        ),
        **fields,
    )
    return model


Finetune = _finetune_model()


class Params(Strict):
    """amlgen parameters: everything the fine-tune, register, deploy and test flow uses."""

    method: Literal["pipeline", "finetuning_job"] = Field(
        "pipeline",
        description=(
            "pipeline: a pipeline job calling the registry chat_completion_pipeline component; "
            "finetuning_job: one `type: finetuning` job (managed compute or serverless)."
        ),
    )
    model: ModelRef = Field(default_factory=ModelRef)
    finetuning_job: ftspec.FinetuningJob = Field(default_factory=ftspec.FinetuningJob)
    component: ComponentRef = Field(default_factory=ComponentRef)
    compute: Compute = Field(default_factory=Compute)
    data: Data = Field(default_factory=Data)
    finetune: Finetune = Field(default_factory=Finetune)  # type: ignore[valid-type]
    job: Job = Field(default_factory=Job)
    registered_model: RegisteredModel = Field(default_factory=RegisteredModel)
    endpoint: Endpoint = Field(default_factory=Endpoint)
    deployment: Deployment = Field(default_factory=Deployment)
    inference: Inference = Field(default_factory=Inference)
    budget: Budget = Field(default_factory=Budget)


def json_schema() -> dict[str, Any]:
    """JSON Schema of the params files, for editors (yaml-language-server) and docs."""
    schema = Params.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "amlgen parameters"
    return schema


def schema_text() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"
