"""Jobs family: pipeline jobs, checked against the bundled catalog, run on a timed lifecycle."""

from __future__ import annotations

import copy
import json
import time
import urllib.parse
from typing import Any

from ..arm import (
    DATASTORE,
    LOCATION,
    PROVIDER,
    SYSTEM_DATA_JOB,
    WS,
    ApiError,
    Family,
    Request,
    Response,
    Route,
    body_dict,
    not_found,
    system_data,
    ws_id,
)
from ..arm import Service as Api
from ..ftcheck import check_finetuning_job
from ..jobcheck import JobProblem, SubmitProblem, check_pipeline_job

TERMINAL = ("Completed", "Failed", "Canceled")
FINETUNING = "FineTuning"
PIPELINE = "Pipeline"
HISTORY = r"/history/v1\.0" + WS


def _view(job: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(job["resource"])


def list_jobs(api: Api, req: Request) -> Response:
    return Response(200, {"value": [_view(j) for j in api.data["jobs"].values()]})


def get_job(api: Api, req: Request) -> Response:
    job = api.data["jobs"].get(req.m["name"])
    if job is None:
        raise not_found("Job", req.m["name"])
    return Response(200, _view(job))


def put_job(api: Api, req: Request) -> Response:
    name = req.m["name"]
    body = body_dict(req)
    props = body.get("properties")
    if not isinstance(props, dict):
        raise ApiError(400, "UserError", "The job body must have a `properties` object.")
    with api.store.lock:
        existing = api.data["jobs"].get(name)
        if existing is not None:  # mutable fields only, like the service
            res = existing["resource"]
            for key in ("displayName", "description", "tags"):
                if key in props:
                    res["properties"][key] = props[key]
            api.store.save()
            return Response(200, _view(existing))
        meta: dict[str, Any] = {"created": time.time(), "final": "Completed"}
        finetuning = props.get("jobType") == FINETUNING
        try:
            if finetuning:
                check_finetuning_job(props, api.data["uploads"], api.data["computes"])
            else:
                check_pipeline_job(props, api.data["uploads"], api.data["computes"])
        except SubmitProblem as problem:  # the service refuses it at once
            raise ApiError(400, problem.code, problem.message) from None
        except JobProblem as problem:
            meta.update(final="Failed", error=problem.message, code=problem.code)
        fault = api.faults.take_job_status()
        if fault:
            api.data["faults_fired"].append([f"job_status {fault['status']}", req.method, req.path])
        if fault and meta["final"] == "Completed":
            meta["final"] = fault["status"]
            if fault["status"] == "Failed":
                meta["error"] = fault.get("message") or (
                    "SystemError: the fine-tuning step failed (fault injected by the "
                    "amlgen emulator)"
                )
                meta["code"] = "SystemError"
                nodes = list(
                    (props.get("jobs") or {}) if isinstance(props.get("jobs"), dict) else {}
                )
                if props.get("jobType") == PIPELINE and nodes:
                    meta["step"] = str(fault.get("step") or nodes[0])
        res = copy.deepcopy(body)
        res["id"] = f"{ws_id(req)}/jobs/{name}"
        res["name"] = name
        res["type"] = f"{PROVIDER}/workspaces/jobs"
        res["systemData"] = system_data(keys=SYSTEM_DATA_JOB)
        p = res["properties"]
        p.setdefault("properties", {})
        for out in (p.get("outputs") or {}).values():
            if isinstance(out, dict):
                out.setdefault("mode", "ReadWriteMount")
        if finetuning:
            _finetuning_defaults(p)
        else:
            p["status"] = "NotStarted"
            p["services"] = _services(api, req, name)
            p["properties"] = {**_pipeline_properties(p), **p["properties"]}
        api.data["jobs"][name] = {"resource": res, "meta": meta}
        api.store.save()
    location = api.url + urllib.parse.quote(req.path.lstrip("/"))
    return Response(201, _view(api.data["jobs"][name]), {"Location": location})


def _services(api: Api, req: Request, name: str) -> dict[str, Any]:
    """A pipeline job's services, as the service lists them (a fine-tuning job has none)."""
    tracking = f"azureml://{LOCATION}.api.azureml.ms/mlflow/v1.0{ws_id(req)}"
    return {
        "Tracking": {"jobServiceType": "Tracking", "endpoint": tracking},
        "Studio": {
            "jobServiceType": "Studio",
            "endpoint": f"{api.url}portal/runs/{name}?wsid={ws_id(req)}",
        },
    }


def _pipeline_properties(p: dict[str, Any]) -> dict[str, str]:
    """Some of the run properties the service adds to a pipeline job it accepts (recorded)."""
    literals = {
        k: v.get("value")
        for k, v in (p.get("inputs") or {}).items()
        if isinstance(v, dict) and v.get("jobInputType") == "literal"
    }
    compute = str(p.get("computeId") or "serverless").rsplit("/", 1)[-1]
    return {
        "azureml.DevPlatv2": "true",
        "azureml.runsource": "azureml.PipelineRun",
        "runSource": "MFE",
        "runType": "HTTP",
        "azureml.parameters": json.dumps(literals, separators=(",", ":")),
        "azureml.defaultComputeName": compute,
        "azureml.defaultDataStoreName": DATASTORE,
        "azureml.pipelineComponent": "pipelinerun",
    }


def _finetuning_defaults(p: dict[str, Any]) -> None:
    """What the service fills into a fine-tuning job it accepts (recordings/): it is Running at
    once, has no services (no Studio link), no instance types unless given, read-only inputs."""
    p["status"] = "Running"
    p.pop("services", None)
    p.setdefault("resources", {"instanceTypes": []})
    details = p.get("fineTuningDetails") or {}
    for key in ("model", "trainingData", "validationData"):
        if isinstance(details.get(key), dict):
            details[key].setdefault("mode", "ReadOnlyMount")


def _advance_job(api: Api, job: dict[str, Any], now: float) -> bool:
    meta, props = job["meta"], job["resource"]["properties"]
    old = props["status"]
    if old in TERMINAL:
        return False
    if "cancel_at" in meta:
        new = "Canceled" if now >= meta["cancel_at"] else "CancelRequested"
    else:
        frac = (now - meta["created"]) / max(api.job_seconds, 1e-6)
        if meta["final"] == "Failed" and meta.get("code") == "UserError" and frac >= 0.25:
            new = "Failed"  # the service rejects a bad job while preparing it
        elif frac < 1.0 and props.get("jobType") == FINETUNING:
            new = "Running"  # the service answers a fine-tuning job's PUT with Running
        elif frac < 0.1:
            new = "NotStarted"
        elif frac < 0.25:
            new = "Queued"
        elif frac < 1.0:
            new = "Running"
        else:
            new = meta["final"]
    if new == old:
        return False
    if new == "Completed" and props.get("jobType") == FINETUNING:
        taken = _registered_model_taken(api, props)
        if taken:
            new = "Failed"
            meta.update(error=taken, code="UserError")
    props["status"] = new
    if new == "Failed" and meta.get("step") is not None:
        _fail_step(api, job)
    if new == "Failed":
        props["properties"]["error"] = meta.get("error", "Failed")
        props["properties"]["error.code"] = meta.get("code", "SystemError")
    elif new == "Completed":
        _job_outputs(api, job)
        if props.get("jobType") == FINETUNING:
            _register_output_model(api, job)
    return True


def _registered(props: dict[str, Any]) -> tuple[str, str] | None:
    out = (props.get("outputs") or {}).get("registered_model")
    if not isinstance(out, dict) or not out.get("assetName"):
        return None
    return str(out["assetName"]), str(out.get("assetVersion") or "1")


def _registered_model_taken(api: Api, props: dict[str, Any]) -> str | None:
    """The service registers the model at the end: an existing version fails the job."""
    reg = _registered(props)
    if reg and reg[1] in api.data["models"].get(reg[0], {}):
        return (
            f"UserError: registering the fine-tuned model failed: model {reg[0]} version "
            f"{reg[1]} already exists (model versions are immutable)"
        )
    return None


def _register_output_model(api: Api, job: dict[str, Any]) -> None:
    """The `type: finetuning` job registers its model itself (outputs.registered_model)."""
    res = job["resource"]
    props = res["properties"]
    reg = _registered(props)
    if reg is None:
        return
    name, version = reg
    out = props["outputs"]["registered_model"]
    out["assetVersion"] = version
    arm_ws = res["id"].rsplit("/jobs/", 1)[0]
    api.data["models"].setdefault(name, {})[version] = {
        "id": f"{arm_ws}/models/{name}/versions/{version}",
        "name": version,
        "type": f"{PROVIDER}/workspaces/models/versions",
        "systemData": system_data(),
        "properties": {
            "modelUri": f"azureml://jobs/{res['name']}/outputs/registered_model",
            "modelType": "mlflow_model",
            "jobName": res["name"],
            "description": f"Registered by fine-tuning job {res['name']}",
            "tags": dict(props.get("tags") or {}),
            "properties": {"azureml.finetuning.base_model": _base_model(props)},
            "flavors": {"python_function": {"data": {"loader_module": "mlflow.transformers"}}},
            "provisioningState": "Succeeded",
            "stage": "Development",
            "isArchived": False,
        },
    }


def _base_model(props: dict[str, Any]) -> str:
    model = (props.get("fineTuningDetails") or {}).get("model") or {}
    return str(model.get("uri") or "") if isinstance(model, dict) else ""


def _fail_step(api: Api, job: dict[str, Any]) -> None:
    """A pipeline ends Failed through one of its steps: each node becomes a child job (the
    failed one carries the error), and the pipeline's own error names it, as the service's
    does ("Pipeline has failed child jobs. Failed nodes: /<node>")."""
    res, meta = job["resource"], job["meta"]
    parent, props = res["name"], res["properties"]
    step = meta["step"]
    for node in props.get("jobs") or {}:
        failed = node == step
        name = f"{parent}_{node}"
        inner: dict[str, Any] = {"azureml.parentrunid": parent}
        if failed:
            inner.update({"error": meta["error"], "error.code": meta.get("code", "SystemError")})
        child = {
            "id": f"{res['id'].rsplit('/jobs/', 1)[0]}/jobs/{name}",
            "name": name,
            "type": f"{PROVIDER}/workspaces/jobs",
            "systemData": system_data(),
            "properties": {
                "jobType": "Command",
                "displayName": node,
                "experimentName": props.get("experimentName"),
                "command": "python -m azureml.acft.run",
                "environmentId": "azureml://registries/azureml/environments/acft-hf-nlp-gpu/"
                "versions/1",
                "status": "Failed" if failed else "Canceled",
                "properties": inner,
                "services": {
                    "Studio": {
                        "jobServiceType": "Studio",
                        "endpoint": f"{api.url}portal/runs/{name}?wsid={res['id']}",
                    }
                },
            },
        }
        api.data["jobs"][name] = {
            "resource": child,
            "meta": {"created": meta["created"], "final": "Failed", "parent": parent},
        }
    meta["error"] = (
        f"Pipeline has failed child jobs. Failed nodes: /{step}. For more details and logs, "
        "please go to the job detail page and check the child jobs."
    )


def _run(job: dict[str, Any]) -> dict[str, Any]:
    """A child job as run history lists it (the SDK's generated `Run`)."""
    res = job["resource"]
    props = res["properties"]
    inner = props.get("properties") or {}
    run: dict[str, Any] = {
        "runId": res["name"],
        "parentRunId": job["meta"].get("parent"),
        "rootRunId": job["meta"].get("parent"),
        "displayName": props.get("displayName"),
        "experimentId": props.get("experimentName"),
        "status": props.get("status"),
        "runType": "azureml.StepRun",
        "properties": {k: str(v) for k, v in inner.items() if not k.startswith("error")},
        "services": {"Studio": {"endpoint": props["services"]["Studio"]["endpoint"]}},
    }
    if inner.get("error"):
        run["error"] = {"error": {"code": inner.get("error.code"), "message": inner["error"]}}
    return run


def list_children(api: Api, req: Request) -> Response:
    parent = req.m["name"]
    if parent not in api.data["jobs"]:
        raise not_found("Run", parent)
    kids = [j for j in api.data["jobs"].values() if j["meta"].get("parent") == parent]
    return Response(200, {"value": [_run(j) for j in kids]})


def advance(api: Api, now: float) -> bool:
    """Move every job along its lifecycle (called under the store lock)."""
    changed = False
    for job in list(api.data["jobs"].values()):  # a failing pipeline adds its child jobs
        changed |= _advance_job(api, job, now)
    return changed


def _job_outputs(api: Api, job: dict[str, Any]) -> None:
    """A completed job's outputs point at the datastore; the model folder 'exists' there."""
    res = job["resource"]
    for out_name, out in (res["properties"].get("outputs") or {}).items():
        if not isinstance(out, dict):
            continue
        path = f"azureml/{res['name']}/{out_name}/"
        out.setdefault("uri", f"azureml://datastores/{DATASTORE}/paths/{path}")
        out.setdefault("mode", "ReadWriteMount")
        api.data["uploads"][f"{DATASTORE}/{path}MLmodel"] = {
            "size": 0,
            "generated_by_job": res["name"],
        }


def cancel_job(api: Api, req: Request) -> Response:
    job = api.data["jobs"].get(req.m["name"])
    if job is None:
        raise not_found("Job", req.m["name"])
    with api.store.lock:
        if job["resource"]["properties"]["status"] not in TERMINAL:
            job["meta"]["cancel_at"] = time.time() + min(0.5, 0.1 * api.job_seconds)
            job["resource"]["properties"]["status"] = "CancelRequested"
        op = api.start_op("job-cancel", [req.m["name"]], min(0.5, 0.1 * api.job_seconds))
        api.store.save()
    return Response(202, None, api.op_headers(req, op, status=None))


FAMILY = Family(
    "jobs",
    (
        Route("GET", WS + r"/jobs", list_jobs),
        Route("GET", WS + r"/jobs/(?P<name>[^/]+)", get_job),
        Route("PUT", WS + r"/jobs/(?P<name>[^/]+)", put_job),
        Route("POST", WS + r"/jobs/(?P<name>[^/]+)/cancel", cancel_job),
        Route("GET", HISTORY + r"/runs/(?P<name>[^/]+)/children", list_children),
    ),
    sections=("jobs",),
    advance=advance,
)
