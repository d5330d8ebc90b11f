"""Field types for the params model, and its serving sections.

limits.py holds each Azure rule once; `rule`, `within`, `bounded` and `named` turn those rules
into pydantic validators so a bad value fails at load with limits.py's own words, and the JSON
schema shows editors the same bounds. The serving sections (endpoint, deployment with its probes,
request settings and environment variables, inference) live here to keep params.py small.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
)

from .. import limits
from ..prices import CURRENCIES


def _version_str(value: Any) -> Any:
    # A version is a string; an int is safe to convert, a float (1.10 -> 1.1) is not.
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        raise ValueError(
            f"{value!r} was read as a number (YAML turns 1.10 into 1.1): quote the version"
        )
    return value


VersionStr = Annotated[str, BeforeValidator(_version_str), Field(min_length=1)]


def rule(check: Callable[[Any], str | None]) -> AfterValidator:
    """A limits.py rule as a pydantic validator: the problem text becomes the error line."""

    def run(value: Any) -> Any:
        problem = check(value) if value is not None else None
        if problem:
            raise ValueError(problem)
        return value

    return AfterValidator(run)


def within(bound: limits.Bound) -> Any:
    """Annotated metadata for a number bounded by limits.py (and shown to editors)."""
    schema: dict[str, Any] = {}
    if not bound.also:
        schema = {
            ("exclusiveMinimum" if bound.lo_open else "minimum"): bound.lo,
            ("exclusiveMaximum" if bound.hi_open else "maximum"): bound.hi,
        }
    return Field(json_schema_extra=schema or None), rule(bound.problem)


def bounded(kind: Any, bound: limits.Bound) -> Any:
    return Annotated[(kind, *within(bound))]


def named(check: Callable[[str], str | None]) -> Any:
    return Annotated[str, rule(check)]


class Strict(BaseModel):
    model_config = ConfigDict(
        extra="forbid", strict=True, validate_default=True, allow_inf_nan=False
    )


class Job(Strict):
    """Pipeline job settings."""

    experiment_name: named(limits.experiment_name) | None = Field(  # type: ignore[valid-type]
        None, description="Default: `chat_completion_<model>`."
    )
    display_name: named(limits.display_name) | None = Field(  # type: ignore[valid-type]
        None, description="Default: the notebook's rule (model, data, batch size, scheduler...)."
    )
    step_name: named(limits.node_key) = Field(  # type: ignore[valid-type]
        "finetune", description="Pipeline node key."
    )
    description: named(limits.description) | None = None  # type: ignore[valid-type]
    force_rerun: bool = True
    continue_on_step_failure: bool = False
    timeout_minutes: bounded(int, limits.JOB_TIMEOUT_MINUTES) = Field(  # type: ignore[valid-type]
        720, description="How long `amlgen run` waits for the job."
    )
    tags: Annotated[dict[str, str], rule(lambda t: limits.tags(t, reserved=RESERVED_TAGS))] = Field(
        default_factory=dict
    )


# amlgen.version, amlgen.env, amlgen.params, amlgen.data (rendering.resource_tags).
RESERVED_TAGS = 4


class RegisteredModel(Strict):
    """The fine-tuned model as registered in the workspace."""

    name: named(lambda n: limits.asset_name(n, "model")) | None = Field(  # type: ignore[valid-type]
        None,
        description="Default: `<model>-<dataset>-200k` with characters Azure rejects replaced.",
    )
    version: VersionStr = Field("1", description="Bump it for every new training run.")
    description: named(limits.description) | None = Field(  # type: ignore[valid-type]
        None, description="Default: `<model> fine tuned model for <dataset> 200k chat-completion`."
    )


class Endpoint(Strict):
    """Managed online endpoint (names are unique per Azure region; rendered lower case)."""

    name: named(lambda n: limits.online_name(n, "endpoint")) = (  # type: ignore[valid-type]
        "ultrachat-completion-dev"
    )
    auth_mode: Literal["key", "aml_token"] = "key"
    description: named(limits.description) | None = Field(  # type: ignore[valid-type]
        None, description="Default: `Online endpoint serving <registered model name>`."
    )


class _Probe(Strict):
    """Every probe setting is rendered, so the YAML says what Azure will do."""

    initial_delay: bounded(int, limits.PROBE["initial_delay"]) = Field(  # type: ignore[valid-type]
        600, description="Seconds after the container starts before the first probe."
    )
    period: bounded(int, limits.PROBE["period"]) = Field(  # type: ignore[valid-type]
        120, description="Seconds between probes."
    )
    timeout: bounded(int, limits.PROBE["timeout"]) = Field(  # type: ignore[valid-type]
        60, description="Seconds a probe may take."
    )
    failure_threshold: bounded(int, limits.PROBE["failure_threshold"]) = Field(  # type: ignore[valid-type]
        30, description="Failed probes in a row before giving up."
    )
    success_threshold: bounded(int, limits.PROBE["success_threshold"]) = Field(  # type: ignore[valid-type]
        1, description="Successful probes in a row to count as healthy again."
    )


class LivenessProbe(_Probe):
    """Liveness: failing it restarts the container. The defaults give a multi-GB model
    600 s + 30 x 120 s (70 minutes) to load before the first restart."""

    @field_validator("success_threshold")
    @classmethod
    def _fixed(cls, value: int) -> int:
        problem = limits.probe("liveness_probe", "success_threshold", value)
        if problem:
            raise ValueError(problem)
        return value


class ReadinessProbe(_Probe):
    """Readiness: failing it only holds traffic back, so it may start earlier and probe often."""

    initial_delay: bounded(int, limits.PROBE["initial_delay"]) = 300  # type: ignore[valid-type]
    period: bounded(int, limits.PROBE["period"]) = 30  # type: ignore[valid-type]
    timeout: bounded(int, limits.PROBE["timeout"]) = 30  # type: ignore[valid-type]


class RequestSettings(Strict):
    """How the endpoint treats scoring requests."""

    request_timeout_ms: bounded(int, limits.REQUEST_TIMEOUT_MS) = Field(  # type: ignore[valid-type]
        90000, description="Scoring timeout; long generations need more than Azure's 5000."
    )
    max_concurrent_requests_per_instance: bounded(int, limits.MAX_CONCURRENT_REQUESTS) = Field(  # type: ignore[valid-type]
        1,
        description=(
            "Requests one instance takes at once; above 1 the server needs as many workers "
            "(environment_variables: {WORKER_COUNT: N})."
        ),
    )


class Deployment(Strict):
    """Managed online deployment of the registered model."""

    name: named(lambda n: limits.online_name(n, "deployment")) = "demo"  # type: ignore[valid-type]
    instance_type: str | None = Field(
        None,
        description=(
            "Default: the model's first recommended inference size that is a current GPU size."
        ),
    )
    instance_count: bounded(int, limits.INSTANCE_COUNT) = 1  # type: ignore[valid-type]
    request_settings: RequestSettings = Field(default_factory=RequestSettings)
    liveness_probe: LivenessProbe = Field(default_factory=LivenessProbe)
    readiness_probe: ReadinessProbe = Field(default_factory=ReadinessProbe)
    environment_variables: dict[named(limits.env_var_name), str | int] = Field(  # type: ignore[valid-type]
        default_factory=dict,
        description="Set in the serving container; numbers are rendered as strings.",
    )
    traffic_percent: bounded(int, limits.TRAFFIC_PERCENT) = 100  # type: ignore[valid-type]


def _inference_value(params: dict[str, Any]) -> str | None:
    for key, value in params.items():
        bound = limits.INFERENCE.get(key)
        problem = bound.problem(value) if bound else None
        if problem:
            return f"{key} {problem}"
    return None


class Inference(Strict):
    """Generation parameters sent with the endpoint test request."""

    parameters: Annotated[dict[str, float | int | bool | str], rule(_inference_value)] = Field(
        default_factory=lambda: {  # type: ignore[arg-type,dict-item,unused-ignore]
            "temperature": 0.6,
            "top_p": 0.9,
            "do_sample": True,
            "max_new_tokens": 200,
        }
    )


Currency = Literal[CURRENCIES]  # type: ignore[valid-type]


class Budget(Strict):
    """What one environment may cost, in `currency`. `plan` reports it, `validate` checks it
    against the prices in params/registry.lock, and `run`/`deploy`/`submit` refuse a run over
    it before anything is created (generator/pricing.py)."""

    currency: Currency = Field(
        "USD",
        description=(
            "Currency of the prices and of the budget (the Retail Prices API's currencyCode; "
            "USD is Azure's authoritative one)."
        ),
    )
    region: named(limits.region_name) | None = Field(  # type: ignore[valid-type]
        None,
        description=(
            "The workspace's Azure region, for the prices `amlgen lock` records (default: "
            "finetuning_job.region); plan and run read the live workspace's region."
        ),
    )
    max_per_hour: bounded(float, limits.BUDGET) | None = Field(  # type: ignore[valid-type]
        None,
        description="Most the resources that stay up (endpoint deployments, idle nodes) may "
        "cost per hour.",
    )
    max_per_job: bounded(float, limits.BUDGET) | None = Field(  # type: ignore[valid-type]
        None,
        description="Most one fine-tuning job may cost at its ceiling (nodes x job.timeout_minutes"
        " x price).",
    )
