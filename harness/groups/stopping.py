"""When a sweep stops taking new points: no better point in N trials, a target reached, its time or its trials spent.

    make sweep NAME=adam GRID="optimizer.learning_rate=1e-4:1e-1:log" SEARCH=tpe TRIALS=50 STOP="plateau:8 time:2h"

Each rule is read against the sweep's study, so every machine that takes its points (sweep-worker, on any storage)
honours it: before it takes a point, a machine checks the rules (and whether another machine stopped the sweep already,
a record in the study); the first that finds one met records why, and none takes a new point after it. Runs already
training end as they would. The sweep's summary and page say why it stopped.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass

from harness.errors import UserError
from harness.records import reason
from harness.surface import option

KINDS = ("plateau", "target", "time", "trials")
EXAMPLES = "plateau:8 (no better point in 8 trials), target:0.93, time:2h (or 90m, 600s), trials:40"
STOPPED = "stopped"  # the study's record of why its sweep stopped (a reason, harness.records.reasons)
STARTED = "started"  # the study's record of when its sweep started (seconds since the epoch)


@dataclass(frozen=True)
class Rule:
    kind: str
    value: float
    text: str


def parse_stop(text: str | None) -> list[Rule]:
    """STOP's rules, separated by spaces or commas; one line naming a rule it cannot read."""
    rules = []
    for item in (text or "").replace(",", " ").split():
        kind, _, value = item.partition(":")
        try:
            rules.append(Rule(kind, _value(kind, value), item))
        except (ValueError, KeyError):
            raise UserError(f"{option('stop')}={item!r} is not a rule: give {EXAMPLES}") from None
    return rules


def _value(kind: str, value: str) -> float:
    if kind in ("plateau", "trials"):
        number = int(value)
        if number < 1:
            raise ValueError
        return number
    if kind == "target":
        return float(value)
    if kind == "time":
        found = re.fullmatch(r"(\d+(?:\.\d+)?)([smh]?)", value)
        if not found:
            raise ValueError
        return float(found.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[found.group(2)]
    raise KeyError(kind)


def stop_reason(rules: list[Rule], study) -> dict | None:
    """Why the sweep stops now (a reason, recorded in the study by the first machine to find it), or None."""
    recorded = study.user_attrs.get(STOPPED)
    if recorded or not rules:
        return recorded
    values = ended_scores(study)  # read from the study once for all the rules
    for rule in rules:
        why = _met(rule, study, values)
        if why is not None:
            study.set_user_attr(STOPPED, why)
            return why
    return None


def ended_scores(study) -> list[float]:
    """The scores of the points that ended, in the order they ended: a trial's value, or (FOLDS=k) the mean of a point's
    k folds once all have ended; a pruned run scores no better than any."""
    from optuna.trial import TrialState

    ended = sorted(
        study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)),
        key=lambda trial: trial.number,
    )
    values = [trial.value if trial.value is not None else float("-inf") for trial in ended]
    folds = (study.user_attrs.get("plan") or {}).get("folds")
    if not folds:
        return values
    points, scores = {}, []
    for trial, value in zip(ended, values, strict=True):
        point = points.setdefault((json.dumps(trial.params, sort_keys=True), trial.user_attrs.get("seed")), [])
        point.append(value)
        if len(point) == folds:
            scores.append(sum(point) / folds)
    return scores


def _met(rule: Rule, study, values: list[float]) -> dict | None:
    if rule.kind == "trials" and len(values) >= rule.value:
        return reason("sweep_trials", trials=len(values), rule=rule.text)
    if rule.kind == "target" and values and max(values) >= rule.value:
        return reason("sweep_target", value=max(values), target=rule.value, rule=rule.text)
    if rule.kind == "plateau" and len(values) > rule.value:
        best_at = values.index(max(values))
        if len(values) - 1 - best_at >= rule.value:
            return reason("sweep_plateau", trials=int(rule.value), best=max(values), rule=rule.text)
    started = study.user_attrs.get(STARTED)
    if rule.kind == "time" and started is not None and time.time() - started >= rule.value:
        return reason("sweep_time", limit=rule.text.partition(":")[2], rule=rule.text)
    return None
