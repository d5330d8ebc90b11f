"""Replay one recording against a fresh emulator and compare every answer with the service's.

Each recorded request of an operation amlgen uses is sent again, in recording order, to an
emulator started for that file. What the recorded workspace already had is seeded first, the
way the emulator's own routes would create it (a cluster a job names, the model a deployment
serves, the files a blob upload put in the datastore). Long-running operations are held
InProgress while the recording still polls them as running and released when it saw them end,
so the answers compared are the ones at the same point of the operation's life, at any speed.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from ...workspace import UPLOAD_ROUTE, make_token
from ..arm import CONTAINER, DATASTORE, REGISTRY
from ..server import Emulator
from .recordings import DEFAULT_DATASTORE, Classified, Entry, Recording, classify
from .shape import Difference, compare_body, compare_headers

WAIT_SECONDS = 180.0  # the longest an operation may take to end once released (a deployment)
TERMINAL_OPS = ("Succeeded", "Failed", "Canceled")
TERMINAL_STATES = ("Succeeded", "Failed", "Canceled")
_OP_URL = re.compile(
    r"/locations/[^/]+/(?P<kind>\w+?(?:OperationsStatus|OperationResults))/(?P<op>[^/?]+)"
)
_WS_PATH = re.compile(
    r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/[^/]+/workspaces/[^/]+", re.I
)
_WS_MODEL = re.compile(
    r"^(?P<ws>/subscriptions/.+?/workspaces/[^/]+)/models/(?P<name>[^/]+)/versions/(?P<ver>[^/]+)$",
    re.I,
)
_REGISTRY_MODEL = re.compile(
    r"^azureml://registries/(?P<reg>[^/]+)/models/(?P<name>[^/]+)/versions/(?P<ver>[^/]+)$"
)
# Registry models the emulator's bundled catalogue does not hold, replayed as one it holds that
# the service's catalogue treats the same way (fine-tunes on managed compute, not serverless):
# the answers compared are the service's to that kind of model, whatever its name.
SUBSTITUTES = {
    ("azureml-meta", "Meta-Llama-3-8B"): ("Phi-3-mini-4k-instruct", "15"),
    ("azureml-meta", "Llama-2-7b"): ("Phi-3-mini-4k-instruct", "15"),
}
SEED_GPU_SIZE = "Standard_NC24ads_A100_v4"
_COMPUTE_SEED_KEYS = ("vmSize", "vmPriority", "scaleSettings", "osType")


@dataclass
class Outcome:
    """One recorded entry: compared (operation set, `skipped` None) or skipped with a reason."""

    file: str
    index: int
    method: str
    path: str
    operation: str | None
    skipped: str | None = None
    differences: list[Difference] = field(default_factory=list)
    note: str = ""


@dataclass
class _Answer:
    status: int
    headers: dict[str, str]
    body: Any


class Replayer:
    """Drives one in-process emulator through one recording."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.url = emu.url.rstrip("/")
        self.ops: dict[tuple[str, str], str] = {}  # (route, recorded op id) -> emulator URL
        self.jobs: set[str] = set()  # jobs created in this replay (a second PUT is an update)
        self.started: set[tuple[str, str]] = set()  # operations the recording started

    # --- HTTP -----------------------------------------------------------------------------

    def send(self, method: str, target: str, body: Any = None) -> _Answer:
        """`target` is a path (+ query) on the emulator, or a URL it gave out."""
        url = target if target.startswith("http") else self.url + target
        data = None if body is None else json.dumps(body).encode()
        headers = {"Authorization": f"Bearer {make_token(self.emu.url, self.emu.secret)}"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                return _Answer(resp.status, dict(resp.headers.items()), _json(resp.read()))
        except urllib.error.HTTPError as exc:
            return _Answer(exc.code, dict(exc.headers.items()), _json(exc.read()))

    def _path(self, entry: Entry) -> str:
        quoted = urllib.parse.quote(entry.path)
        return quoted + (f"?{entry.query}" if entry.query else "")

    # --- time -----------------------------------------------------------------------------

    def _released(self, done: Any, target: str) -> _Answer:
        """Let operations end, ask `target` until `done(answer)`, then hold them again."""
        self.emu.api.hold = False
        try:
            deadline = time.monotonic() + WAIT_SECONDS
            answer = self.send("GET", target)
            while not done(answer) and time.monotonic() < deadline:
                time.sleep(0.05)
                answer = self.send("GET", target)
            return answer
        finally:
            self.emu.api.hold = True

    # --- seeding --------------------------------------------------------------------------

    def seed_upload(self, entry: Entry) -> None:
        """A file the recorded workspace's datastore holds (a blob HEAD 200 or PUT 2xx)."""
        if entry.status >= 300 or entry.method not in ("HEAD", "PUT"):
            return
        parts = entry.path.lstrip("/").split("/", 1)
        if len(parts) == 2 and parts[1]:
            quoted = urllib.parse.quote(f"{CONTAINER}/{parts[1]}")
            self.send_raw("POST", f"/{UPLOAD_ROUTE}{quoted}", b"recorded upload")

    def send_raw(self, method: str, path: str, data: bytes) -> None:
        headers = {
            "Authorization": f"Bearer {make_token(self.emu.url, self.emu.secret)}",
            "Content-Type": "application/octet-stream",
        }
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        with urllib.request.urlopen(req, timeout=60) as resp:
            resp.read()

    def seed_compute(self, ws_path: str, name: str, recorded: Any = None) -> None:
        """A cluster the recorded workspace had, created through the emulator's own PUT."""
        target = f"{ws_path}/computes/{name}"
        if self.send("GET", target).status == 200:
            return
        props = (recorded or {}).get("properties") if isinstance(recorded, dict) else None
        inner = (props or {}).get("properties") or {}
        seeded = {k: inner[k] for k in _COMPUTE_SEED_KEYS if inner.get(k) is not None}
        seeded.setdefault("vmSize", SEED_GPU_SIZE)
        seeded.setdefault("scaleSettings", {"maxNodeCount": 1, "minNodeCount": 0})
        body = {
            "location": (recorded or {}).get("location") or "eastus",
            "properties": {"computeType": "AmlCompute", "properties": seeded},
        }
        self.send("PUT", target, body)
        self._released(lambda a: _state(a.body) in TERMINAL_STATES, target)

    def seed_model(self, model_id: str) -> None:
        m = _WS_MODEL.match(model_id)
        if not m:
            return
        target = f"{m['ws']}/models/{m['name']}/versions/{m['ver']}"
        if self.send("GET", target).status != 200:
            self.send("PUT", target, {"properties": {"modelType": "custom_model"}})

    def _prepare_job(self, entry: Entry, ws_path: str) -> tuple[Any, str]:
        """The job body as sent, with what its workspace must hold seeded; a substitution note."""
        body = json.loads(json.dumps(entry.request_body))
        props = body.get("properties") if isinstance(body, dict) else None
        if not isinstance(props, dict):
            return body, ""
        compute = props.get("computeId")
        if isinstance(compute, str) and compute:
            self.seed_compute(ws_path, compute.rstrip("/").rsplit("/", 1)[-1])
        details = props.get("fineTuningDetails")
        model = details.get("model") if isinstance(details, dict) else None
        uri = model.get("uri") if isinstance(model, dict) else None
        m = _REGISTRY_MODEL.match(uri) if isinstance(uri, str) else None
        sub = SUBSTITUTES.get((m["reg"], m["name"])) if m else None
        if m and sub and isinstance(details, dict) and isinstance(model, dict):
            model["uri"] = f"azureml://registries/azureml/models/{sub[0]}/versions/{sub[1]}"
            details["taskType"] = "chatCompletion"
            return (
                body,
                f"model {m['reg']}/{m['name']}:{m['ver']} replayed as azureml/{sub[0]}:{sub[1]}",
            )
        return body, ""

    # --- one entry ------------------------------------------------------------------------

    def replay(self, file: str, entry: Entry) -> Outcome:
        c = classify(entry)
        out = Outcome(file, entry.index, entry.method, entry.path, c.operation, c.reason or None)
        if c.operation is None:
            if c.reason.startswith("Azure Blob Storage"):
                self.seed_upload(entry)
            return out
        why = self._refine(entry, c, out)
        if why:
            out.skipped = why
            return out
        answer = self._exchange(entry, c, out)
        if answer is None:
            return out
        if answer.status != entry.status:
            out.differences.append(
                Difference(
                    "status",
                    f"{answer.status} where the service answers {entry.status}",
                    entry.status,
                )
            )
        out.differences += compare_headers(entry.headers, answer.headers, entry.path)
        if answer.status // 100 == entry.status // 100:
            out.differences += compare_body(entry.body, answer.body)
        self._learn(entry, answer)
        if c.operation == "job.put" and answer.status < 300:
            self.jobs.add(c.groups.get("job", ""))
        return out

    def _refine(self, entry: Entry, c: Classified, out: Outcome) -> str | None:
        """The finer operation name, or why the entry is skipped after all."""
        op = c.operation or ""
        if (
            op in ("datastore.get", "datastore.listSecrets")
            and c.groups.get("ds") != DEFAULT_DATASTORE
        ):
            return f"amlgen reads only the default datastore ({DATASTORE}), which its uploads use"
        if op == "job.put":
            props = (entry.request_body or {}).get("properties") or {}
            kind = str(props.get("jobType") or "")
            if kind not in ("Pipeline", "FineTuning"):
                return f"amlgen submits pipeline and fine-tuning jobs only (this is a {kind} job)"
            if c.groups.get("job") in self.jobs:
                return "amlgen never updates a submitted job"
            out.operation = "job.put.pipeline" if kind == "Pipeline" else "job.put.finetuning"
        if op == "job.get" and isinstance(entry.body, dict):
            kind = str((entry.body.get("properties") or {}).get("jobType") or "")
            out.operation = {
                "Pipeline": "job.get.pipeline",
                "FineTuning": "job.get.finetuning",
            }.get(kind, "job.get")
        polled = (entry.path.split("/")[-2], c.groups.get("op", ""))
        if (op.endswith("operation.status") or op == "operation.result") and (
            polled not in self.started
        ):
            return "polls an operation this recording did not start"
        return None

    def _exchange(self, entry: Entry, c: Classified, out: Outcome) -> _Answer | None:
        op = out.operation or ""
        m = _WS_PATH.match(entry.path)
        ws_path = m[0] if m else ""
        body = entry.request_body
        if op.endswith("operation.status") or op == "operation.result":
            url = self.ops.get((entry.path.split("/")[-2], c.groups["op"]))
            if url is None:
                out.differences.append(
                    Difference("status", "the emulator gave no URL to poll this operation")
                )
                return None
            if _op_done(entry):
                return self._released(_op_done_answer, url)
            return self.send("GET", url)
        if op.startswith("job.put"):
            body, out.note = self._prepare_job(entry, ws_path)
        elif op == "deployment.put":
            model = ((body or {}).get("properties") or {}).get("model")
            if isinstance(model, str):
                self.seed_model(model)
        elif op == "model.list" and isinstance(entry.body, dict) and entry.body.get("value"):
            first = entry.body["value"][0]
            latest = str((first.get("properties") or {}).get("latestVersion") or "1")
            self.seed_model(f"{ws_path}/models/{first.get('name')}/versions/{latest}")
        elif op == "compute.get" and entry.status == 200:
            self.seed_compute(ws_path, c.groups["compute"], entry.body)
        path = self._path(entry)
        if op == "registry.discovery" and entry.status == 200 and c.groups["reg"] != REGISTRY:
            # The emulator holds one registry: a registry the recorded identity could use is
            # replayed as that one, one it could not keeps its name (the service's 403).
            path = path.replace(f"/registries/{c.groups['reg']}/", f"/registries/{REGISTRY}/")
            out.note = f"registry {c.groups['reg']} replayed as {REGISTRY}"
        answer = self.send(entry.method, path, body)
        if (
            entry.method == "GET"
            and _state(entry.body) in TERMINAL_STATES
            and _state(answer.body) not in TERMINAL_STATES
        ):
            answer = self._released(lambda a: _state(a.body) in TERMINAL_STATES, path)
        return answer

    def _learn(self, entry: Entry, answer: _Answer) -> None:
        """Recorded operation URLs -> the emulator's, for the polls that follow."""
        for name in ("azure-asyncoperation", "location"):
            rec = entry.header(name)
            emu = next((v for k, v in answer.headers.items() if k.lower() == name), None)
            m = _OP_URL.search(urllib.parse.unquote(rec or ""))
            if m:
                self.started.add((m["kind"], m["op"]))
            if m and emu and _OP_URL.search(emu):
                self.ops[(m["kind"], m["op"])] = emu


def _json(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", errors="replace")


def _state(body: Any) -> str | None:
    props = body.get("properties") if isinstance(body, dict) else None
    value = props.get("provisioningState") if isinstance(props, dict) else None
    return value if isinstance(value, str) else None


def _op_done(entry: Entry) -> bool:
    """The recording saw this poll's operation ended."""
    if "OperationResults" in entry.path:
        return entry.status in (200, 204)
    status = entry.body.get("status") if isinstance(entry.body, dict) else None
    return status in TERMINAL_OPS


def _op_done_answer(answer: _Answer) -> bool:
    if answer.status == 202:
        return False
    status = answer.body.get("status") if isinstance(answer.body, dict) else None
    return status is None or status in TERMINAL_OPS or answer.status >= 400


def replay(recording: Recording) -> list[Outcome]:
    """Every entry of one recording, against a fresh emulator of its own."""
    emu = Emulator(job_seconds=3600.0, deploy_seconds=0.2, poll_seconds=1)
    emu.api.hold = True
    emu.start()
    try:
        player = Replayer(emu)
        return [player.replay(recording.file, entry) for entry in recording.entries]
    finally:
        emu.stop()
