"""Fault injection rules for the emulator (`--faults FILE`, `Emulator.add_fault`).

Each rule fires a bounded number of times, so a test can say exactly what goes wrong once:
  - {fault: job_status, status: Failed, step: finetune}
                                               next submitted job ends Failed (or Canceled); a
                                               pipeline's failed child job is its `step` node
                                               (default: its first)
  - {fault: deployment_fails, reason: liveness_probe | out_of_memory | image_pull}
                                               next deployment provisioning ends Failed, its
                                               container logs saying why (default reason:
                                               liveness_probe)
  - {fault: quota, family: F, limit: N, used: N}
                                               the workspace region's dedicated vCPUs of quota
                                               family F (or `total`, `low_priority`); stays so
  - {fault: region_sizes, drop: [SIZE, ...]}   the region does not offer these sizes (stays so)
  - {fault: throttle, status: 429, times: 2, retry_after: 1, match: "/jobs/"}   (or 503)
  - {fault: restart, after_requests: 5}        drop the connection, restart on the same port
  - {fault: forbidden, match: "/onlineEndpoints/", method: GET, times: 1}
                                               403 AuthorizationFailed (a role that may not read)
  - {fault: registry_model, name: Phi-4, version: "8", lifecycle: {finetune_retirement: DATE},
     drop_finetune_skus: [SIZE], drop_inference_skus: [SIZE]}
                                               the registry's model metadata changed (stays so)
  - {fault: prices, answer: malformed | empty | wrong_unit | bad_price | unavailable | price,
     size: SIZE, price: N, times: N}
                                               the Retail Prices stand-in (routes/prices.py)
                                               answers so for SIZE (default: every size); stays
                                               in force unless `times` bounds it
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import yaml

from .. import reading

MAX_FAULTS_BYTES = 1024 * 1024  # a list of fault rules

KINDS = (
    "job_status",
    "deployment_fails",
    "throttle",
    "restart",
    "registry_model",
    "forbidden",
    "quota",
    "region_sizes",
    "prices",
)
DEPLOYMENT_FAILURES = ("liveness_probe", "out_of_memory", "image_pull")
PRICE_ANSWERS = ("malformed", "empty", "wrong_unit", "bad_price", "unavailable", "price")
ALLOWED_KEYS = {
    "job_status": {"fault", "status", "message", "step"},
    "deployment_fails": {"fault", "message", "reason"},
    "quota": {"fault", "family", "limit", "used"},
    "region_sizes": {"fault", "drop"},
    "throttle": {"fault", "status", "times", "retry_after", "match", "method"},
    "restart": {"fault", "after_requests", "down_seconds"},
    "forbidden": {"fault", "times", "match", "method"},
    "prices": {"fault", "answer", "size", "price", "times"},
    "registry_model": {
        "fault",
        "name",
        "version",
        "lifecycle",
        "drop_finetune_skus",
        "drop_inference_skus",
    },
}
LIFECYCLE_KEYS = (
    "finetune_deprecation",
    "finetune_retirement",
    "inference_deprecation",
    "inference_retirement",
)


def _problem(source: str, index: int, msg: str) -> Exception:
    from .errors import EmulatorError

    return EmulatorError(f"{source}: rule {index + 1}: {msg}")


def normalise(rule: Any, source: str = "fault", index: int = 0) -> dict[str, Any]:
    """Check one rule and fill its defaults; errors name the field and what is allowed."""
    if not isinstance(rule, dict):
        raise _problem(source, index, "each rule must be a mapping with a `fault` key")
    kind = rule.get("fault")
    if kind not in KINDS:
        raise _problem(source, index, f"fault: {kind!r} is not one of {', '.join(KINDS)}")
    unknown = set(rule) - ALLOWED_KEYS[kind]
    if unknown:
        allowed = ", ".join(sorted(ALLOWED_KEYS[kind]))
        raise _problem(source, index, f"{sorted(unknown)[0]}: unknown key (allowed: {allowed})")
    out = dict(rule)

    def number(key: str, default: float, minimum: float, integer: bool = False) -> None:
        value = out.get(key, default)
        ok = isinstance(value, int) if integer else isinstance(value, (int, float))
        if isinstance(value, bool) or not ok or value < minimum:
            kind_word = "an integer" if integer else "a number"
            raise _problem(source, index, f"{key}: must be {kind_word} >= {minimum:g}")
        out[key] = value

    if kind == "job_status":
        out.setdefault("status", "Failed")
        if out["status"] not in ("Failed", "Canceled"):
            raise _problem(source, index, "status: must be Failed or Canceled")
    elif kind == "throttle":
        out.setdefault("status", 429)
        if out["status"] not in (429, 503):
            raise _problem(source, index, "status: must be 429 or 503")
        number("times", 1, 1, integer=True)
        number("retry_after", 1, 0)
        out["match"] = str(out.get("match", ""))
        if "method" in out:
            out["method"] = str(out["method"]).upper()
    elif kind == "forbidden":
        number("times", 1, 1, integer=True)
        out["match"] = str(out.get("match", ""))
        if "method" in out:
            out["method"] = str(out["method"]).upper()
    elif kind == "prices":
        if out.get("answer") not in PRICE_ANSWERS:
            raise _problem(source, index, f"answer: must be one of {', '.join(PRICE_ANSWERS)}")
        if "size" in out:
            out["size"] = str(out["size"]).lower()
        if out["answer"] == "price":
            number("price", 1, 0.0001)
        if "times" in out:
            number("times", 1, 1, integer=True)
    elif kind == "restart":
        number("after_requests", 1, 1, integer=True)
        number("down_seconds", 0.5, 0)
    elif kind == "deployment_fails":
        out.setdefault("reason", DEPLOYMENT_FAILURES[0])
        if out["reason"] not in DEPLOYMENT_FAILURES:
            allowed = ", ".join(DEPLOYMENT_FAILURES)
            raise _problem(source, index, f"reason: must be one of {allowed}")
    elif kind == "quota":
        if not isinstance(out.get("family"), str) or not out["family"]:
            raise _problem(source, index, "family: a quota family name (or total, low_priority)")
        number("limit", 0, 0, integer=True)
        number("used", 0, 0, integer=True)
    elif kind == "region_sizes":
        drop = out.get("drop")
        if not isinstance(drop, list) or not all(isinstance(v, str) for v in drop):
            raise _problem(source, index, "drop: must be a list of VM size names")
    elif kind == "registry_model":
        if not isinstance(out.get("name"), str):
            raise _problem(source, index, "name: the registry model's name is required")
        out["version"] = str(out.get("version", "")) or None
        life = out.setdefault("lifecycle", {})
        if not isinstance(life, dict) or set(life) - set(LIFECYCLE_KEYS):
            allowed = ", ".join(LIFECYCLE_KEYS)
            raise _problem(source, index, f"lifecycle: keys must be among {allowed}")
        out["lifecycle"] = {k: str(v) for k, v in life.items()}
        for key in ("drop_finetune_skus", "drop_inference_skus"):
            value = out.setdefault(key, [])
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise _problem(source, index, f"{key}: must be a list of VM size names")
    return out


def load(source: str | Path | dict[str, Any] | list[Any] | None) -> list[dict[str, Any]]:
    """Rules from a YAML/JSON file, one rule dict, or a list of them."""
    if source is None:
        return []
    if isinstance(source, dict):
        return [normalise(source)]
    if isinstance(source, list):
        return [normalise(r, "faults", i) for i, r in enumerate(source)]
    path = Path(source)
    from .errors import EmulatorError

    try:  # bounded, a regular file: a FIFO hung the start, /dev/zero took 24 GB
        text = reading.read_text(path, MAX_FAULTS_BYTES)
    except reading.ReadRefused as exc:
        raise EmulatorError(f"{path}: cannot read the fault file: {exc.reason}") from None
    try:
        raw = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except RecursionError:
        raise EmulatorError(f"{path}: not valid YAML/JSON: nested too deeply") from None
    except (ValueError, yaml.YAMLError) as exc:
        raise EmulatorError(f"{path}: not valid YAML/JSON: {str(exc).splitlines()[0]}") from None
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise EmulatorError(f"{path}: must be a list of fault rules")
    return [normalise(r, str(path), i) for i, r in enumerate(raw)]


class Faults:
    """Pending rules; each `take_*` consumes what it uses, under a lock (handlers are threads)."""

    def __init__(self, rules: list[dict[str, Any]]) -> None:
        self._lock = threading.Lock()
        self._rules: list[dict[str, Any]] = []
        self.requests = 0
        for rule in rules:
            self.add(rule)

    def add(self, rule: dict[str, Any]) -> None:
        rule = normalise(rule)
        with self._lock:
            if rule["fault"] == "restart":
                rule["_at"] = self.requests + rule["after_requests"]
            self._rules.append(rule)

    def pending(self) -> list[dict[str, Any]]:
        with self._lock:
            return [{k: v for k, v in r.items() if not k.startswith("_")} for r in self._rules]

    def _take(self, kind: str) -> dict[str, Any] | None:
        with self._lock:
            for rule in self._rules:
                if rule["fault"] == kind:
                    self._rules.remove(rule)
                    return rule
        return None

    def registry_model(self, model: Any) -> Any:
        """`model` (a catalog.ModelVersion) as the registry now serves it: registry_model rules
        stay in force (the registry moved on), applied in the order they were added."""
        import dataclasses

        with self._lock:
            rules = [
                r
                for r in self._rules
                if r["fault"] == "registry_model"
                and r["name"] == model.name
                and r["version"] in (None, model.version)
            ]
        for rule in rules:
            gone_ft = {s.lower() for s in rule["drop_finetune_skus"]}
            gone_inf = {s.lower() for s in rule["drop_inference_skus"]}
            model = dataclasses.replace(
                model,
                lifecycle={**model.lifecycle, **rule["lifecycle"]},
                finetune_allow_list=tuple(
                    s for s in model.finetune_allow_list if s.lower() not in gone_ft
                ),
                inference_allow_list=tuple(
                    s for s in model.inference_allow_list if s.lower() not in gone_inf
                ),
            )
        return model

    def prices(self, size: str) -> dict[str, Any] | None:
        """The newest prices rule for `size` (or for every size); one with `times` counts this
        request against them."""
        with self._lock:
            for rule in reversed(self._rules):
                if rule["fault"] != "prices" or rule.get("size") not in (None, size.lower()):
                    continue
                if "times" in rule:
                    rule["times"] -= 1
                    if rule["times"] <= 0:
                        self._rules.remove(rule)
                return dict(rule)
        return None

    def take_prices(self) -> dict[str, Any] | None:
        return self._take("prices")

    def lasting(self, kind: str) -> list[dict[str, Any]]:
        """The rules of a kind that stay in force (quota, region_sizes), oldest first."""
        with self._lock:
            return [dict(r) for r in self._rules if r["fault"] == kind]

    def take_job_status(self) -> dict[str, Any] | None:
        return self._take("job_status")

    def take_deployment_fails(self) -> dict[str, Any] | None:
        return self._take("deployment_fails")

    def count_request(self) -> dict[str, Any] | None:
        """Count one request; return a restart rule that is due now."""
        with self._lock:
            self.requests += 1
            for rule in self._rules:
                if rule["fault"] == "restart" and self.requests >= rule["_at"]:
                    self._rules.remove(rule)
                    return rule
        return None

    def throttle(self, method: str, path: str, kind: str = "throttle") -> dict[str, Any] | None:
        """A throttle (or, with kind="forbidden", a forbidden) rule matching this request."""
        with self._lock:
            for rule in self._rules:
                if rule["fault"] != kind or rule["match"] not in path:
                    continue
                if rule.get("method") and rule["method"] != method:
                    continue
                rule["times"] -= 1
                if rule["times"] <= 0:
                    self._rules.remove(rule)
                return dict(rule)
        return None
