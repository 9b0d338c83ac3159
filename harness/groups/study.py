"""Every group is an Optuna study, its ledger: a trial per run, with its parameters, its validation accuracy per
epoch, its final value, status, host and run path.

    make sweep NAME=l2 GRID="model.l2=0.0001,0.01"                      every point enqueued, each run once
    make sweep NAME=adam GRID="optimizer.learning_rate=1e-4:1e-1:log" SEARCH=tpe TRIALS=20     TPE chooses
    make sweep ... PRUNE=hyperband (or median)                           hopeless runs stop early: `pruned`

The study lives in the group's folder (``study.journal``, Optuna's file journal: no server). Grid, random and
seed points are enqueued up front and taken one at a time as workers free up, so no point runs twice; TPE asks
for its next point only when a worker is free, so each choice learns from every run finished before it. A trial's
value is the run's best validation accuracy, never its test accuracy. A run's worker reports the validation
accuracy of each epoch to its trial, and with a pruner the trial may stop the run there.
"""

from __future__ import annotations

import platform
from collections.abc import Callable
from pathlib import Path

from harness.config.grid import Range, as_override
from harness.errors import UserError
from harness.groups.storage import open_storage
from harness.records import reason

OBJECTIVE = "best_val_accuracy"
PRUNERS = ("hyperband", "median")
SEARCHES = ("tpe",)


def _quiet() -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # one line per run is ours to print


def encoded(value):
    """A parameter value as Optuna stores it: a scalar, or a list as its YAML text ('[256, 128]')."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return as_override("", value).removeprefix("=")


def distributions(axes: dict[str, list | Range]) -> dict:
    """Each swept key's Optuna distribution: ranges as float or int (log where asked), lists as categories."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    result = {}
    for key, values in axes.items():
        if isinstance(values, Range) and values.integer:
            result[key] = IntDistribution(int(values.low), int(values.high), log=values.log)
        elif isinstance(values, Range):
            result[key] = FloatDistribution(values.low, values.high, log=values.log)
        else:
            result[key] = CategoricalDistribution(list(dict.fromkeys(encoded(value) for value in values)))
    return result


def decoded(axes: dict[str, list | Range], params: dict) -> dict:
    """A trial's parameters as config values (a list category back to its list)."""
    values = {}
    for key, value in params.items():
        choices = axes[key] if isinstance(axes[key], list) else []
        values[key] = next((choice for choice in choices if encoded(choice) == value), value)
    return values


def pruner(kind: str | None):
    import optuna

    if kind is None:
        return optuna.pruners.NopPruner()
    if kind == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, reduction_factor=3)
    if kind == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1)
    raise UserError(f"PRUNE={kind}: choose one of {', '.join(PRUNERS)}")


def _sampler(search: dict):
    """TPE chooses SEARCH=tpe's points; enqueued points (grid, random, seeds) are taken as given. TPE starts from
    a third of its TRIALS at random (Optuna's default of ten would leave a sweep of a dozen trials all but random),
    and with runs side by side it counts the running ones as having scored (the constant liar), so that workers do
    not all try the same promising point."""
    import optuna

    seed = search.get("sample_seed") or 0
    if search.get("method") == "tpe":
        startup = min(10, max(3, (search.get("trials") or 30) // 3))
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup, constant_liar=True)
    return optuna.samplers.RandomSampler(seed=seed)


def create_study(name: str, storage: str, search: dict):
    """A new study in `storage`, maximising the runs' best validation accuracy; `search` is the plan's (SEARCH,
    PRUNE and the sampling seed)."""
    import optuna

    _quiet()
    return optuna.create_study(
        storage=open_storage(storage),
        study_name=name,
        direction="maximize",
        sampler=_sampler(search),
        pruner=pruner(search.get("prune")),
    )


def load_study(name: str, storage: str, search: dict):
    import optuna

    _quiet()
    return optuna.load_study(
        study_name=name, storage=open_storage(storage), sampler=_sampler(search), pruner=pruner(search.get("prune"))
    )


def take_queued(study, distributions: dict):
    """The next enqueued trial (a grid, random or seed point, or a retry), now running; None when the queue is
    empty. `Study.ask` would make a new, empty trial instead, and a worker that found the last point taken
    between its look and its ask left a failed trial in the study: this is ask's own atomic take, without that."""
    import optuna

    trial_id = study._pop_waiting_trial_id()  # noqa: SLF001 - the take Study.ask makes, first half
    if trial_id is None:
        return None
    trial = optuna.Trial(study, trial_id)
    for name, distribution in distributions.items():  # its enqueued values, as Study.ask would suggest them
        trial._suggest(name, distribution)  # noqa: SLF001
    return trial


def tell(study, trial, status: str, metrics: dict, run_dir: Path | None) -> None:
    """Record a run's end in its trial (asked from `study`): its value (best validation accuracy) when it
    finished, else its state; and where and how it ran."""
    from optuna.trial import TrialState

    trial.set_user_attr("status", status)
    trial.set_user_attr("host", platform.node())
    trial.set_user_attr("run_path", str(run_dir) if run_dir else None)
    trial.set_user_attr("reason", metrics.get("reason"))
    for key in ("test_accuracy", "macro_f1", "best_val_accuracy", "epochs_run"):  # the page, from the study alone
        trial.set_user_attr(key, metrics.get(key))
    if status == "finished" and metrics.get(OBJECTIVE) is not None:
        study.tell(trial, metrics[OBJECTIVE])
    elif status == "pruned":
        study.tell(trial, state=TrialState.PRUNED)
    else:
        study.tell(trial, state=TrialState.FAIL)


def trial_reference(study, trial, storage: str, prune: str | None, member: dict | None = None) -> dict:
    """What a worker needs to report to the trial: plain data, sent through a pipe. A fold's run (FOLDS=k) also
    names its point (parameters and seed), to be judged on the mean of the point's folds."""
    reference = {"study": study.study_name, "storage": storage, "trial_id": trial._trial_id, "prune": prune}  # noqa: SLF001
    if member is not None and member.get("fold") is not None:
        reference |= {"params": dict(trial.params), "seed": member["seed"]}
    return reference


def fold_mean(study, trial, reference: dict, epoch: int, value: float) -> tuple[float, bool]:
    """A fold's run at the end of an epoch: the mean validation accuracy at that epoch of its point's folds that have
    reached it (this one's `value` among them), and whether another fold of its point was pruned. Each fold keeps
    its own accuracies in its trial (`val_accuracy`), as the value it reports is the mean."""
    mine = trial.user_attrs.get("val_accuracy", [])
    trial.set_user_attr("val_accuracy", [*mine[:epoch], value])
    values, pruned = [value], False
    for other in study.get_trials(deepcopy=False):
        if other._trial_id == reference["trial_id"] or other.params != reference["params"]:  # noqa: SLF001
            continue
        if other.user_attrs.get("seed") != reference["seed"]:
            continue
        pruned |= other.state.name == "PRUNED"
        accuracies = other.user_attrs.get("val_accuracy", [])
        if len(accuracies) > epoch:
            values.append(accuracies[epoch])
    return sum(values) / len(values), pruned


def epoch_judge(trial: dict) -> Callable[[int, dict], dict | None]:
    """For a run's worker: report each epoch's validation accuracy to the run's trial; a non-empty answer means
    the pruner stopped the run there, and says why. A study that cannot be reached any more (its database went
    down) stops being asked: the run trains on to its end, and its group's machine says what happened."""
    import optuna
    from optuna.exceptions import StorageInternalError
    from sqlalchemy.exc import SQLAlchemyError

    _quiet()
    study = load_study(trial["study"], trial["storage"], {"prune": trial.get("prune")})
    running, lost = optuna.trial.Trial(study, trial["trial_id"]), []

    def judge(epoch: int, logs: dict) -> str | None:
        if lost or "val_accuracy" not in logs:  # a run without a validation set (make finalize) has nothing to report
            return None
        value, code, sibling_pruned = float(logs["val_accuracy"]), "pruned", False
        try:
            if "params" in trial:  # a fold: judged on its point's folds
                value, sibling_pruned = fold_mean(study, running, trial, epoch, value)
                code = "pruned_folds"
            running.report(value, epoch)
            stop = running.should_prune()
        except (StorageInternalError, SQLAlchemyError, OSError) as error:
            lost.append(error)
            print(f"warning: the sweep's study cannot be reached ({type(error).__name__}); training goes on")
            return None
        if sibling_pruned:
            return reason("pruned_sibling", epoch=epoch)
        if stop:
            return reason(code, pruner=trial.get("prune"), epoch=epoch, val_accuracy=value)
        return None

    return judge
