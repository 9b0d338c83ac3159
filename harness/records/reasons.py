"""Why a run ended as it did, as a code with parameters: what status.json and metrics.json record.

    {"status": "diverged", "reason": {"code": "diverged", "epoch": 3}}

Programs read the code; people read a sentence made from it, in English or Japanese (`reason_text`), so
rewording a sentence never loses its translation. An epoch is recorded as Keras counts it, from 0 (the `epoch`
column of history.csv), and said as every message says it, from 1. A run written before reasons were codes holds
the English sentence itself, which reads as it is.
"""

from __future__ import annotations

import string

# code -> (English, Japanese); the fields in braces are the reason's parameters.
TEXTS: dict[str, tuple[str, str]] = {
    "diverged": (
        "the loss became NaN or infinite in epoch {epoch}",
        "エポック {epoch} で損失が NaN または無限大になりました",
    ),
    "signal": ("stopped by {signal} after epoch {epoch}", "{signal} により、エポック {epoch} の後で停止しました"),
    "signal_before_first_epoch": (
        "stopped by {signal} before its first epoch ended",
        "{signal} により、最初のエポックが終わる前に停止しました",
    ),
    "signal_numpy": (
        "stopped by {signal}; the NumPy network does not resume",
        "{signal} により停止しました (NumPy のネットワークは再開できません)",
    ),
    "error": ("{error}", "エラー: {error}"),
    "pruned": (
        "pruned by the {pruner} pruner after epoch {epoch}: its validation accuracy {val_accuracy:.4f} was behind "
        "the other runs' at that epoch",
        "{pruner} による枝刈りでエポック {epoch} の後に打ち切り: 検証正解率 {val_accuracy:.4f} が同じエポックの"
        "他の実行より低かったため",
    ),
    "pruned_folds": (
        "pruned by the {pruner} pruner after epoch {epoch}: the mean validation accuracy of its point's folds so far, "
        "{val_accuracy:.4f}, was behind the other points' at that epoch",
        "{pruner} による枝刈りでエポック {epoch} の後に打ち切り: この点の各分割 (fold) の検証正解率の平均 "
        "{val_accuracy:.4f} が同じエポックの他の点より低かったため",
    ),
    "pruned_sibling": (
        "pruned after epoch {epoch}: another fold of its point was pruned, so the point is out",
        "エポック {epoch} の後に打ち切り: 同じ点の別の分割 (fold) が枝刈りされたため",
    ),
    "vanished": (
        "the process stopped without a word (killed?)",
        "プロセスが何も言わずに止まりました (強制終了?)",
    ),
    "status_unreadable": ("status.json is missing or unreadable", "status.json がないか、読めません"),
    "not_started": (
        "the run did not start (exit {exit_code}); see its log",
        "実行が始まりませんでした (終了コード {exit_code})。ログを見てください",
    ),
    "worker_died": (
        "its worker process died ({how}): killed, out of memory or crashed",
        "ワーカープロセスが終了しました ({how}): 強制終了、メモリ不足、またはクラッシュ",
    ),
    "worker_failed_to_start": (
        "its worker process failed while starting ({how}), before the run began; see its log",
        "ワーカープロセスが起動中に失敗しました ({how})。実行は始まっていません。ログを見てください",
    ),
    "unreadable": ("{file} is unreadable ({error})", "{file} が読めません ({error})"),
    "sweep_plateau": (
        "no better point in {trials} trials (the best: {best:.4f}; {rule})",
        "{trials} 試行のあいだ、より良い点がありませんでした (最良: {best:.4f}; {rule})",
    ),
    "sweep_target": (
        "a point reached {value:.4f}, the target {target} ({rule})",
        "ある点が {value:.4f} に達し、目標 {target} を満たしました ({rule})",
    ),
    "sweep_time": ("its time, {limit}, was spent ({rule})", "時間 {limit} を使い切りました ({rule})"),
    "sweep_trials": ("{trials} trials were run ({rule})", "{trials} 試行を実行しました ({rule})"),
}
LANGUAGES = ("en", "ja")


def parameters_of(code: str) -> set[str]:
    """The parameters a code's sentences take."""
    return {field for _, field, _, _ in string.Formatter().parse(TEXTS[code][0]) if field}


def reason(code: str, **parameters) -> dict:
    """A reason as it is recorded: {"code": ..., parameter: value, ...}; a code or parameter the texts do not
    know is a bug, and raises here rather than when a page is made."""
    if code not in TEXTS:
        raise ValueError(f"unknown reason code {code!r}")
    missing = parameters_of(code) - set(parameters)
    if missing:
        raise ValueError(f"reason {code!r} needs {', '.join(sorted(missing))}")
    return {"code": code} | parameters


def reason_text(recorded: dict | str | None, lang: str = "en") -> str | None:
    """The sentence a person reads; a reason recorded as a sentence (before codes) is that sentence."""
    if recorded is None or isinstance(recorded, str):
        return recorded
    texts = TEXTS.get(recorded.get("code"))
    if texts is None:
        return str(recorded)
    parameters = {key: value for key, value in recorded.items() if key != "code"}
    if isinstance(parameters.get("epoch"), int):  # recorded as Keras counts (from 0), said as people count (from 1)
        parameters["epoch"] += 1
    return texts[LANGUAGES.index(lang) if lang in LANGUAGES else 0].format(**parameters)


def reason_code(recorded: dict | str | None) -> str | None:
    """The code of a recorded reason (None for none, and for a sentence written before codes)."""
    return recorded.get("code") if isinstance(recorded, dict) else None
