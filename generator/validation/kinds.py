"""Which Azure ML kind a YAML file is, from `$schema` or from `type` and shape, and its SDK loader.

Every schema of the published CLI v2 index (azuremlschemas.azureedge.net/latest/<Name>.schema.json,
as the SDK's own load_* functions and the public azureml-examples samples use them) maps to one
kind. A file with neither a known `$schema` nor a telltale shape is of no kind: a note, never an
error, since Azure ML may well know what we do not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Kind ids (stable: findings and other modules use them).
COMMAND_JOB = "command_job"
PIPELINE_JOB = "pipeline_job"
SWEEP_JOB = "sweep_job"
SPARK_JOB = "spark_job"
AUTOML_JOB = "automl_job"
FINETUNING_JOB = "finetuning_job"
DISTILLATION_JOB = "distillation_job"
IMPORT_JOB = "import_job"
DATA_TRANSFER_JOB = "data_transfer_job"
COMMAND_COMPONENT = "command_component"
PIPELINE_COMPONENT = "pipeline_component"
SPARK_COMPONENT = "spark_component"
PARALLEL_COMPONENT = "parallel_component"
DATA_TRANSFER_COMPONENT = "data_transfer_component"
AUTOML_COMPONENT = "automl_component"
DATA = "data"
MODEL = "model"
ENVIRONMENT = "environment"
COMPUTE = "compute"
ENDPOINT = "online_endpoint"
DEPLOYMENT = "online_deployment"
BATCH_ENDPOINT = "batch_endpoint"
BATCH_DEPLOYMENT = "batch_deployment"
SERVERLESS_ENDPOINT = "serverless_endpoint"
SCHEDULE = "schedule"
DATASTORE = "datastore"
WORKSPACE = "workspace"
REGISTRY = "registry"
CONNECTION = "connection"
FEATURE_STORE = "feature_store"
FEATURE_SET = "feature_set"
FEATURE_STORE_ENTITY = "feature_store_entity"
MARKETPLACE_SUBSCRIPTION = "marketplace_subscription"
DEPLOYMENT_TEMPLATE = "deployment_template"
CAPABILITY_HOST = "capability_host"
DATA_IMPORT = "data_import"
CONDA_FILE = "conda_file"  # not an asset: the conda spec an environment or component points at
FEATURE_SET_SPEC = "feature_set_spec"  # not an asset: what a feature set's `specification` names
PROMPT_FLOW = "prompt_flow"  # flow.dag.yaml / flow.meta.yaml: a kind amlgen does not judge

JOB_KINDS = (
    COMMAND_JOB,
    PIPELINE_JOB,
    SWEEP_JOB,
    SPARK_JOB,
    AUTOML_JOB,
    FINETUNING_JOB,
    DISTILLATION_JOB,
    IMPORT_JOB,
    DATA_TRANSFER_JOB,
)
COMPONENT_KINDS = (
    COMMAND_COMPONENT,
    PIPELINE_COMPONENT,
    SPARK_COMPONENT,
    PARALLEL_COMPONENT,
    DATA_TRANSFER_COMPONENT,
    AUTOML_COMPONENT,
)
# Recognised, and deliberately not judged: a note says so (never an error).
NOT_JUDGED = {
    PROMPT_FLOW: "a prompt flow (flow.dag.yaml, flow.meta.yaml): prompt flow judges it, amlgen "
    "does not",
}


@dataclass(frozen=True)
class Kind:
    id: str
    label: str
    loader: str | None  # the azure.ai.ml function that reads it; None: no offline SDK check


KINDS: dict[str, Kind] = {
    k.id: k
    for k in (
        *(Kind(j, j.replace("_", " "), "validate_job") for j in JOB_KINDS),
        Kind(IMPORT_JOB, "import job", "validate_job"),
        *(Kind(c, c.replace("_", " "), "validate_component") for c in COMPONENT_KINDS),
        Kind(DATA, "data asset", "load_data"),
        Kind(MODEL, "model", "load_model"),
        Kind(ENVIRONMENT, "environment", "load_environment"),
        Kind(COMPUTE, "compute", "load_compute"),
        Kind(ENDPOINT, "online endpoint", "load_online_endpoint"),
        Kind(DEPLOYMENT, "online deployment", "load_online_deployment"),
        Kind(BATCH_ENDPOINT, "batch endpoint", "load_batch_endpoint"),
        Kind(BATCH_DEPLOYMENT, "batch deployment", "load_batch_deployment"),
        Kind(SERVERLESS_ENDPOINT, "serverless endpoint", "load_serverless_endpoint"),
        Kind(SCHEDULE, "schedule", "load_schedule"),
        Kind(DATASTORE, "datastore", "load_datastore"),
        Kind(WORKSPACE, "workspace", "load_workspace"),
        Kind(REGISTRY, "registry", "load_registry"),
        Kind(CONNECTION, "workspace connection", "load_workspace_connection"),
        Kind(FEATURE_STORE, "feature store", "load_feature_store"),
        Kind(FEATURE_SET, "feature set", "load_feature_set"),
        Kind(FEATURE_STORE_ENTITY, "feature store entity", "load_feature_store_entity"),
        Kind(MARKETPLACE_SUBSCRIPTION, "marketplace subscription", "load_marketplace_subscription"),
        Kind(DEPLOYMENT_TEMPLATE, "deployment template", "load_deployment_template"),
        Kind(CAPABILITY_HOST, "capability host", "load_capability_host"),
        Kind(DATA_IMPORT, "data import", None),
        Kind(CONDA_FILE, "conda file", None),
        Kind(FEATURE_SET_SPEC, "feature set specification", None),
        Kind(PROMPT_FLOW, "prompt flow", None),
    )
}

# Fields the documented create command supplies from its own flags (azure-cli-extensions,
# azext_mlv2/manual/_params: `--name/-n`, `--endpoint-name/-e`, and `--set field=value`): a file
# without them runs with that command line, so their absence is a warning naming the flag.
_NOT_CREATED = {DATA_IMPORT, CONDA_FILE, FEATURE_SET_SPEC, PROMPT_FLOW}
_NAMED_BY_FLAG = set(KINDS) - set(JOB_KINDS) - _NOT_CREATED
CREATE_FLAGS: dict[str, dict[str, str]] = {
    **{kind: {"name": "--name"} for kind in _NAMED_BY_FLAG},
    DEPLOYMENT: {"name": "--name", "endpoint_name": "--endpoint-name"},
    BATCH_DEPLOYMENT: {
        "name": "--name",
        "endpoint_name": "--endpoint-name",
        "compute": "--set compute=<cluster>",
        "model": "--set model=<model>",
    },
}

# Loaders per variant where the SDK has a narrower one than the kind's.
VARIANT_LOADERS: dict[tuple[str, str | None], str] = {
    (BATCH_DEPLOYMENT, "model"): "load_model_batch_deployment",
    (BATCH_DEPLOYMENT, "pipeline"): "load_pipeline_component_batch_deployment",
}

# `$schema` file stems of the published index, lower case -> (kind, variant).
SCHEMAS: dict[str, tuple[str, str | None]] = {
    "commandjob": (COMMAND_JOB, None),
    "pipelinejob": (PIPELINE_JOB, None),
    "sweepjob": (SWEEP_JOB, None),
    "sparkjob": (SPARK_JOB, None),
    "automljob": (AUTOML_JOB, None),
    "finetuningjob": (FINETUNING_JOB, None),
    "distillationjob": (DISTILLATION_JOB, None),
    "importjob": (IMPORT_JOB, None),
    "datatransferjob": (DATA_TRANSFER_JOB, None),
    "commandcomponent": (COMMAND_COMPONENT, None),
    "pipelinecomponent": (PIPELINE_COMPONENT, None),
    "sparkcomponent": (SPARK_COMPONENT, None),
    "parallelcomponent": (PARALLEL_COMPONENT, None),
    "datatransfercomponent": (DATA_TRANSFER_COMPONENT, None),
    "automlcomponent": (AUTOML_COMPONENT, None),
    "data": (DATA, None),
    "model": (MODEL, None),
    "environment": (ENVIRONMENT, None),
    "amlcompute": (COMPUTE, "amlcompute"),
    "computeinstance": (COMPUTE, "computeinstance"),
    "kubernetescompute": (COMPUTE, "kubernetes"),
    "vmcompute": (COMPUTE, "virtualmachine"),
    "synapsesparkcompute": (COMPUTE, "synapsespark"),
    "serverlesssparkcompute": (COMPUTE, "synapsespark"),
    "managedonlineendpoint": (ENDPOINT, "managed"),
    "kubernetesonlineendpoint": (ENDPOINT, "kubernetes"),
    "managedonlinedeployment": (DEPLOYMENT, "managed"),
    "kubernetesonlinedeployment": (DEPLOYMENT, "kubernetes"),
    "batchendpoint": (BATCH_ENDPOINT, None),
    "batchdeployment": (BATCH_DEPLOYMENT, None),
    "modelbatchdeployment": (BATCH_DEPLOYMENT, "model"),
    "pipelinecomponentbatchdeployment": (BATCH_DEPLOYMENT, "pipeline"),
    "serverlessendpoint": (SERVERLESS_ENDPOINT, None),
    "schedule": (SCHEDULE, None),
    "azureblob": (DATASTORE, "azure_blob"),
    "azurefile": (DATASTORE, "azure_file"),
    "azuredatalakegen1": (DATASTORE, "azure_data_lake_gen1"),
    "azuredatalakegen2": (DATASTORE, "azure_data_lake_gen2"),
    "onelake": (DATASTORE, "one_lake"),
    "workspace": (WORKSPACE, None),
    "hub": (WORKSPACE, "hub"),
    "project": (WORKSPACE, "project"),
    "registry": (REGISTRY, None),
    "workspaceconnection": (CONNECTION, None),
    "connection": (CONNECTION, None),
    "featurestore": (FEATURE_STORE, None),
    "featureset": (FEATURE_SET, None),
    "featurestoreentity": (FEATURE_STORE_ENTITY, None),
    "marketplacesubscription": (MARKETPLACE_SUBSCRIPTION, None),
    "deploymenttemplate": (DEPLOYMENT_TEMPLATE, None),
    "capabilityhost": (CAPABILITY_HOST, None),
    "dataimport": (DATA_IMPORT, None),
    "flow": (PROMPT_FLOW, None),
}

_JOB_TYPES = {
    "command": COMMAND_JOB,
    "pipeline": PIPELINE_JOB,
    "sweep": SWEEP_JOB,
    "spark": SPARK_JOB,
    "automl": AUTOML_JOB,
    "finetuning": FINETUNING_JOB,
    "distillation": DISTILLATION_JOB,
    "import": IMPORT_JOB,
    "data_transfer": DATA_TRANSFER_JOB,
}
_COMPONENT_TYPES = {
    "command": COMMAND_COMPONENT,
    "pipeline": PIPELINE_COMPONENT,
    "spark": SPARK_COMPONENT,
    "parallel": PARALLEL_COMPONENT,
    "data_transfer": DATA_TRANSFER_COMPONENT,
    "automl": AUTOML_COMPONENT,
}
# The `type` values each `$schema` kind allows; an explicit other `type` is a mismatch.
_SCHEMA_TYPES: dict[str, set[str]] = {
    **{kind: {t} for t, kind in _JOB_TYPES.items()},
    **{kind: {t} for t, kind in _COMPONENT_TYPES.items()},
}
_COMPUTE_TYPES = {"amlcompute", "computeinstance", "kubernetes", "virtualmachine", "synapsespark"}
_DATA_TYPES = {"uri_file", "uri_folder", "mltable"}
_MODEL_TYPES = {"custom_model", "mlflow_model", "triton_model"}
_DATASTORE_TYPES = {
    "azure_blob",
    "azure_file",
    "azure_data_lake_gen1",
    "azure_data_lake_gen2",
    "one_lake",
}
# Keys only a batch deployment has (an online deployment has none of them).
_BATCH_DEPLOYMENT_KEYS = {
    "mini_batch_size",
    "output_action",
    "output_file_name",
    "error_threshold",
    "logging_level",
    "retry_settings",
    "max_concurrency_per_instance",
    "job_definition",
    "component",
    "settings",
}


def schema_stem(schema: Any) -> str | None:
    """`https://.../latest/managedOnlineDeployment.schema.json` -> `managedonlinedeployment`."""
    if not isinstance(schema, str) or not schema.strip():
        return None
    stem = schema.strip().rstrip("/").rsplit("/", 1)[-1].lower()
    for suffix in (".schema.json", ".json"):
        stem = stem.removesuffix(suffix)
    return stem


def from_schema(schema: Any) -> tuple[str, str | None] | None:
    stem = schema_stem(schema)
    if stem is None:
        return None
    if stem in SCHEMAS:
        return SCHEMAS[stem]
    if stem.startswith("automl") and stem.endswith("job"):  # autoMLClassificationJob, ...
        return AUTOML_JOB, None
    return None


def _is_component(data: dict[str, Any]) -> bool:
    # A component is a versioned, reusable definition; a job is a run (no `version`).
    return "version" in data or "is_deterministic" in data


def foreign(data: dict[Any, Any]) -> str | None:
    """What a YAML file that is no Azure ML asset at all is (a CI definition beside the assets),
    or None. A GitHub workflow's `on:` is the boolean True to YAML 1.1."""
    if "$schema" in data:
        return None
    jobs = data.get("jobs")
    if isinstance(jobs, dict) and (
        True in data
        or "on" in data
        or any(isinstance(j, dict) and {"runs-on", "steps", "uses"} & set(j) for j in jobs.values())
    ):
        return "a GitHub Actions workflow"
    if {"runs", "inputs"} <= set(data) or ("runs" in data and "name" in data):
        return "a GitHub Action definition"
    if {"stages", "steps", "pool", "extends"} & set(data) or (
        isinstance(jobs, list) and "parameters" in data
    ):
        return "an Azure Pipelines definition"
    return None


def _versioned(data: dict[str, Any]) -> bool:
    """A named, versioned definition with nothing only a run has: a component, whatever its
    `$schema` says (a job with a stray `version` keeps its job schema and its unknown key)."""
    run_only = {"experiment_name", "compute", "settings", "services"}
    return "name" in data and "version" in data and not run_only & set(data)


def from_shape(data: dict[str, Any]) -> tuple[str, str | None] | None:
    """The kind of a file without a known `$schema`: from `type`, then from telltale keys."""
    kind = data.get("type")
    kind = kind.lower() if isinstance(kind, str) else None
    if isinstance(data.get("dependencies"), list) and kind is None:
        return CONDA_FILE, None
    if isinstance(data.get("nodes"), list) and ("inputs" in data or "outputs" in data):
        return PROMPT_FLOW, None  # flow.dag.yaml
    if isinstance(data.get("features"), list) and isinstance(data.get("source"), dict):
        return FEATURE_SET_SPEC, None
    if kind in _COMPONENT_TYPES and (_is_component(data) or kind == "parallel"):
        return _COMPONENT_TYPES[kind], None
    if kind in _JOB_TYPES:
        return _JOB_TYPES[kind], None
    if kind in _COMPUTE_TYPES and not {"endpoint_name", "auth_mode", "traffic"} & set(data):
        return COMPUTE, kind  # `type: kubernetes` is also a Kubernetes endpoint's or deployment's
    if kind in _DATA_TYPES and "path" in data:
        return DATA, None
    if kind in _MODEL_TYPES:
        return MODEL, None
    if kind in _DATASTORE_TYPES:
        return DATASTORE, kind
    if "endpoint_name" in data:
        if _BATCH_DEPLOYMENT_KEYS & set(data) or kind in ("model", "pipeline"):
            return BATCH_DEPLOYMENT, kind if kind in ("model", "pipeline") else None
        return DEPLOYMENT, "kubernetes" if kind == "kubernetes" else "managed"
    if "trigger" in data and ("create_job" in data or "create_monitor" in data):
        return SCHEDULE, None
    if "model_id" in data:
        return SERVERLESS_ENDPOINT, None
    if "auth_mode" in data or "traffic" in data:
        variant = "kubernetes" if kind == "kubernetes" or "compute" in data else "managed"
        return ENDPOINT, variant
    if "defaults" in data and isinstance(data.get("defaults"), dict):
        return BATCH_ENDPOINT, None
    if "jobs" in data:
        return (PIPELINE_COMPONENT if _is_component(data) else PIPELINE_JOB), None
    if "command" in data:
        return (COMMAND_COMPONENT if _is_component(data) else COMMAND_JOB), None
    if "replication_locations" in data:
        return REGISTRY, None
    if "index_columns" in data:
        return FEATURE_STORE_ENTITY, None
    if "entities" in data and "specification" in data:
        return FEATURE_SET, None
    image = data.get("image")
    if (
        (isinstance(image, str) or "build" in data or "conda_file" in data)
        and "path" not in data
        and not isinstance(image, dict)  # an image *build* config (azureml-assets), not a CLI file
    ):
        return ENVIRONMENT, None
    if "size" in data or "min_instances" in data or "max_instances" in data:
        return COMPUTE, "amlcompute"
    if "path" in data and "name" in data:
        return MODEL, None
    return None


def detect(data: dict[str, Any]) -> tuple[str, str | None] | None:
    """(kind id, variant) of a parsed file, or None when it is of no kind we know.

    The content decides over a `$schema` it contradicts (an explicit `type` the schema's kind
    does not have, or a job schema on a versioned component), as the SDK's loaders do.
    """
    if foreign(data):
        return None
    declared = from_schema(data.get("$schema"))
    if declared is None and schema_stem(data.get("$schema")):
        return None  # a kind we do not know (DataIndex, Run, ...): never guessed from its shape
    found = declared or from_shape(data)
    kind = data.get("type")
    kind = kind.lower() if isinstance(kind, str) else None
    if declared and kind is not None and kind not in _SCHEMA_TYPES.get(declared[0], {kind}):
        found = from_shape(data) or declared
    elif declared and declared[0] in JOB_KINDS and kind in _COMPONENT_TYPES and _versioned(data):
        found = _COMPONENT_TYPES[kind], None
    if found and found[0] == BATCH_DEPLOYMENT and kind in ("model", "pipeline"):
        return BATCH_DEPLOYMENT, kind
    if found and found[0] == DEPLOYMENT and kind == "kubernetes":
        return DEPLOYMENT, "kubernetes"
    return found


def schema_mismatch(data: dict[str, Any], found: tuple[str, str | None] | None) -> str | None:
    """The kind a file's `$schema` names when its content is of another kind, else None."""
    declared = from_schema(data.get("$schema"))
    if declared is None or found is None or declared[0] == found[0]:
        return None
    return declared[0]


def label(kind: str | None) -> str:
    return KINDS[kind].label if kind in KINDS else "asset"
