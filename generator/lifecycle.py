"""Model lifecycle truth, in one place: live, deprecated or retired on a given day.

Judged from the registry's own dates (both metadata layouts end up in `ModelVersion.lifecycle`)
against the current date, which tests and rehearsals inject (`on=`, or AMLGEN_TODAY=YYYY-MM-DD).
Deprecated is a warning naming the retirement date; retired is a warning when rendering or
validating and an error before anything is submitted. Successors are computed, never listed:
other models with a common fine-tuning task, offering the same deployment option, live that day.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable
from dataclasses import dataclass

from . import catalog, names
from .errors import AmlgenError

CLOCK_ENV = names.ENV_TODAY
LIVE, DEPRECATED, RETIRED = "live", "deprecated", "retired"
# chat_completion_pipeline runs on managed compute: the registry calls that option MaaP.
MANAGED_COMPUTE = "MaaP"
SERVERLESS = "ServerlessMaaS"


class LifecycleError(AmlgenError):
    """The model cannot be used any more (or the injected clock is unreadable)."""


def today() -> dt.date:
    """The day lifecycle is judged on: AMLGEN_TODAY when set (rehearsals, tests), else today."""
    raw = os.environ.get(CLOCK_ENV, "").strip()
    if not raw:
        return dt.date.today()
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise LifecycleError(f"{CLOCK_ENV}={raw!r}: expected a date like 2026-12-02") from None


def _stage(deprecation: str | None, retirement: str | None, on: dt.date) -> str:
    day = on.isoformat()
    if retirement and retirement <= day:
        return RETIRED
    if deprecation and deprecation <= day:
        return DEPRECATED
    return LIVE


@dataclass(frozen=True)
class Judgement:
    """One model version's lifecycle on one day, with its computed successors."""

    model: catalog.ModelVersion
    on: dt.date
    finetune: str
    inference: str
    successors: tuple[catalog.ModelVersion, ...] = ()

    @property
    def retired(self) -> bool:
        return RETIRED in (self.finetune, self.inference)

    @property
    def deprecated(self) -> bool:
        return not self.retired and DEPRECATED in (self.finetune, self.inference)

    @property
    def live(self) -> bool:
        return self.finetune == LIVE and self.inference == LIVE and not self.model.archived

    def date(self, key: str) -> str | None:
        return self.model.lifecycle.get(key)

    def successor_text(self) -> str:
        if not self.successors:
            return "no live successor is known (check the registry)"
        names = ", ".join(f"{m.name} version {m.version}" for m in self.successors)
        return f"live successors on {self.on.isoformat()}: {names}"

    def _when(self, state: str, verb: str) -> str:
        """'retired on D (fine-tuning and inference)' or one clause per kind."""
        dates: dict[str, list[str]] = {}
        for kind, label in (("finetune", "fine-tuning"), ("inference", "inference")):
            if getattr(self, kind) == state:
                when = self.date(f"{kind}_retirement") or "a date not yet announced"
                dates.setdefault(when, []).append(label)
        clauses = [f"{verb} on {when} ({' and '.join(kinds)})" for when, kinds in dates.items()]
        return "; ".join(clauses)

    def message(self) -> str | None:
        """A warning line, or None when the model is live."""
        m = self.model
        what = f"{m.name} version {m.version}"
        archived = "; the model is archived in the registry" if m.archived else ""
        if self.retired:
            return f"{what} was {self._when(RETIRED, 'retired')}{archived}: {self.successor_text()}"
        if self.deprecated:
            return (
                f"{what} is deprecated: {self._when(DEPRECATED, 'retires')}{archived}: "
                f"{self.successor_text()}"
            )
        if m.archived:
            return f"{what} is archived in the registry: {self.successor_text()}"
        return None

    def acknowledged_by(self, stage: str | None) -> bool:
        """Whether a reviewed acknowledgement (params `model.acknowledged_lifecycle`) covers
        this judgement: `retired` covers deprecated and retired, `deprecated` only deprecated
        (a model that has since retired needs a fresh review)."""
        if stage == RETIRED:
            return not self.live
        if stage == DEPRECATED:
            return not self.live and not self.retired
        return False

    def refusal(self) -> str | None:
        """Why submitting or deploying it would be rejected by the service, or None."""
        if not self.retired:
            return None
        first = self.successors[0] if self.successors else None
        change = (
            f"set model.name: {first.name} and model.version: {first.version!r}"
            if first
            else "pin a live model in model.name/model.version"
        )
        return f"{self.message()}; Azure ML rejects it: {change}, then `make render`"


def successors(
    model: catalog.ModelVersion,
    on: dt.date,
    candidates: Iterable[catalog.ModelVersion] | None = None,
    option: str = MANAGED_COMPUTE,
) -> tuple[catalog.ModelVersion, ...]:
    """Other models sharing a fine-tuning task and offering `option`, live on `on` (newest
    version of each name, by name)."""
    pool = catalog.models() if candidates is None else list(candidates)
    tasks = set(model.finetuning_tasks)
    best: dict[str, catalog.ModelVersion] = {}
    for cand in pool:
        if cand.name == model.name or option not in cand.deployment_options:
            continue
        if tasks and not tasks & set(cand.finetuning_tasks):
            continue
        if not judge(cand, on, candidates=()).live:
            continue
        held = best.get(cand.name)
        if held is None or catalog.version_key(cand.version) > catalog.version_key(held.version):
            best[cand.name] = cand
    return tuple(best[name] for name in sorted(best))


def judge(
    model: catalog.ModelVersion,
    on: dt.date | None = None,
    candidates: Iterable[catalog.ModelVersion] | None = None,
    option: str = MANAGED_COMPUTE,
) -> Judgement:
    """The lifecycle of `model` on `on` (default: today()); successors only when not live."""
    day = on or today()
    life = model.lifecycle
    j = Judgement(
        model=model,
        on=day,
        finetune=_stage(life.get("finetune_deprecation"), life.get("finetune_retirement"), day),
        inference=_stage(life.get("inference_deprecation"), life.get("inference_retirement"), day),
    )
    if j.live or candidates == ():
        return j
    return Judgement(
        model=model,
        on=day,
        finetune=j.finetune,
        inference=j.inference,
        successors=successors(model, day, candidates, option),
    )


def ensure_submittable(
    model: catalog.ModelVersion,
    on: dt.date | None = None,
    candidates: Iterable[catalog.ModelVersion] | None = None,
) -> None:
    """Submission pre-flight: raise one clear line when the service would reject the model."""
    why = judge(model, on, candidates).refusal()
    if why:
        raise LifecycleError(why)
