"""Labels for plots and pages in English (default) or Japanese, as the seed notebook labels its plots.

The language is the config's `report.language`, else Japanese when the LANG environment variable starts
with "ja" (`make experiment NAME=adam LANG=ja`), else English.
"""

from __future__ import annotations

import os
import re

LABELS = {
    "en": {
        "learning_curves": "learning curves", "loss": "loss", "accuracy": "accuracy", "epoch": "epoch (from 0)",
        "train": "train", "validation": "validation", "confusion_matrix": "confusion matrix (test set)",
        "predicted": "predicted label", "true": "true label", "misclassified": "misclassified test images",
        "true_short": "true", "predicted_short": "pred", "test_accuracy": "test accuracy", "macro_f1": "macro F1",
        "per_class_f1": "F1 per class", "value": "value", "run": "run", "class": "class",
        "confusion_difference": "normalised confusion matrix, {b} minus {a}", "val_accuracy": "validation accuracy",
        "val_loss": "validation loss",
        "all_runs": "← all runs", "classification_report": "Classification report (test set)",
        "config": "Resolved config", "environment": "Environment", "files": "Raw files", "runs": "Runs",
        "runs_count": "runs", "sort_hint": "click a column header to sort", "best_val_accuracy": "best val accuracy",
        "train_time": "train time", "parameters": "parameters", "epochs_run": "epochs run",
        "experiment": "experiment", "run_id": "run", "date": "date", "dataset": "dataset", "model": "model",
        "optimizer": "optimizer", "learning_rate": "learning rate", "epochs": "epochs", "train_seconds": "train s",
        "status": "status", "compare": "Comparison", "metrics": "Metrics", "config_diff": "Config differences",
        "disagreements": "Where the two runs disagree", "curves_compare": "Learning curves (train dashed)",
        "best_epoch": "best epoch", "final_val_accuracy": "last-epoch val accuracy",
        "right_wrong": "{a} right, {b} wrong", "no_differences": "no config differences",
        "loss_per_iteration": "loss per iteration", "iteration": "iteration",
        "group": "group", "groups": "Groups of runs", "back_to_group": "← its group", "kind": "kind",
        "seeds": "seeds", "sweep": "sweep", "runs_finished": "runs finished", "mean": "mean", "std": "std",
        "ci95": "95% CI", "values": "values", "members": "Runs", "seed": "seed", "point": "point",
        "best_point": "Best point by validation accuracy", "sweep_points": "Every point",
        "curves_band": "Learning curves: mean with its 95% interval over seeds (train dashed)",
        "metric_vs_parameter": "Best validation accuracy against each swept parameter",
        "curves_sweep": "Validation curves of the best points: mean with its 95% interval over seeds",
        "summary": "Summary over seeds", "verdicts": "What the comparison shows", "statistics": "Statistics",
        "log": "log", "failed_runs": "runs did not finish",
        "filter_hint": "filter: words anywhere in a row", "previous_page": "← previous", "next_page": "next →",
        "needs_javascript": "This table needs JavaScript; this command prints it:",
        "data_missing": "index-data.js is missing beside this page: make report writes it again.",
        "selected_by": "the best point has the highest mean best validation accuracy over its runs; test accuracy is "
                       "only reported",
        "precision": "precision", "recall": "recall", "f1-score": "f1-score", "support": "support",
        "macro avg": "macro avg", "weighted avg": "weighted avg",
        "importance": "Importance of each parameter for validation accuracy (fANOVA)",
        "optimisation_history": "Optimisation history: each trial's best validation accuracy",
        "parallel_coordinates": "Parallel coordinates: each trial's parameters and validation accuracy",
        "trial_curves": "Every trial's validation accuracy per epoch (a pruned trial's ends where it stopped)",
        "what_mattered": "What mattered", "best_so_far": "best so far", "trial": "trial",
        "importance_short": "importance", "parameter": "parameter",
        "importance_sentence": "{parameter} explains the largest share of the variation of validation accuracy "
                               "({share}% by fANOVA)",
        "seed_spread_sentence": "; the spread between seeds at one point is {points} points (standard deviation)",
        "difference_points": "difference (points)", "config_key": "config key", "scores": "test scores",
        "metrics_note": "Differences are from the first run. Best val accuracy: at the epoch of best validation "
                        "accuracy (best epoch); last-epoch val accuracy: at the last epoch. Test metrics are of the "
                        "final model.",
        "p_holm": "p, Holm-adjusted", "files_label": "Files", "to": "to",
    },
    "ja": {
        "learning_curves": "学習曲線", "loss": "損失", "accuracy": "正解率", "epoch": "エポック (0 から)",
        "train": "訓練", "validation": "検証", "confusion_matrix": "混同行列 (テストデータ)",
        "predicted": "予測ラベル", "true": "正解ラベル", "misclassified": "誤分類されたテスト画像",
        "true_short": "正解", "predicted_short": "予測", "test_accuracy": "テスト正解率", "macro_f1": "マクロ F1",
        "per_class_f1": "クラスごとの F1", "value": "値", "run": "実行", "class": "クラス",
        "confusion_difference": "正規化混同行列の差 ({b} − {a})", "val_accuracy": "検証正解率",
        "val_loss": "検証損失",
        "all_runs": "← すべての実行", "classification_report": "分類レポート (テストデータ)",
        "config": "設定 (解決済み)", "environment": "実行環境", "files": "ファイル", "runs": "実行一覧",
        "runs_count": "件", "sort_hint": "列見出しをクリックで並べ替え", "best_val_accuracy": "最良の検証正解率",
        "train_time": "学習時間", "parameters": "パラメータ数", "epochs_run": "実行エポック数",
        "experiment": "実験", "run_id": "実行", "date": "日時", "dataset": "データセット", "model": "モデル",
        "optimizer": "最適化手法", "learning_rate": "学習率", "epochs": "エポック", "train_seconds": "学習秒",
        "status": "状態", "compare": "比較", "metrics": "指標", "config_diff": "設定の違い",
        "disagreements": "2 つの実行で結果が分かれた例", "curves_compare": "学習曲線 (訓練は破線)",
        "best_epoch": "最良エポック", "final_val_accuracy": "最終エポックの検証正解率",
        "right_wrong": "{a} 正解・{b} 不正解", "no_differences": "設定の違いなし",
        "loss_per_iteration": "イテレーションごとの損失", "iteration": "イテレーション",
        "group": "グループ", "groups": "実行グループ", "back_to_group": "← グループへ", "kind": "種類",
        "seeds": "シード", "sweep": "スイープ", "runs_finished": "完了した実行", "mean": "平均", "std": "標準偏差",
        "ci95": "95% 信頼区間", "values": "値", "members": "実行", "seed": "シード", "point": "点",
        "best_point": "検証正解率で選んだ最良の点", "sweep_points": "すべての点",
        "curves_band": "学習曲線: シード間の平均と 95% 信頼区間 (訓練は破線)",
        "metric_vs_parameter": "スイープした各パラメータと最良の検証正解率",
        "curves_sweep": "上位の点の検証曲線: シード間の平均と 95% 信頼区間",
        "summary": "シード間の要約", "verdicts": "比較からわかること", "statistics": "統計",
        "log": "ログ", "failed_runs": "件の実行が完了せず",
        "filter_hint": "絞り込み: 行のどこかに含まれる語", "previous_page": "← 前へ", "next_page": "次へ →",
        "needs_javascript": "この表には JavaScript が必要です。次のコマンドでも表示できます:",
        "data_missing": "このページの隣に index-data.js がありません。make report で作り直せます。",
        "selected_by": "最良の点は、その点の実行における最良の検証正解率の平均が最も高い点です。"
                       "テスト正解率は報告するだけで、選択には使いません",
        "precision": "適合率", "recall": "再現率", "f1-score": "F1 スコア", "support": "サンプル数",
        "macro avg": "マクロ平均", "weighted avg": "重み付き平均",
        "importance": "検証正解率に対する各パラメータの重要度 (fANOVA)",
        "optimisation_history": "最適化の履歴: 各試行の最良の検証正解率",
        "parallel_coordinates": "平行座標: 各試行のパラメータと検証正解率",
        "trial_curves": "各試行のエポックごとの検証正解率 (打ち切られた試行は止まったところまで)",
        "what_mattered": "効いたもの", "best_so_far": "それまでの最良", "trial": "試行",
        "importance_short": "重要度", "parameter": "パラメータ",
        "importance_sentence": "検証正解率のばらつきを最も多く説明するのは {parameter} です (fANOVA で {share}%)",
        "seed_spread_sentence": "。1 つの点でのシード間のばらつきは {points} ポイント (標準偏差) です",
        "difference_points": "差 (ポイント)", "config_key": "設定キー", "scores": "テストの指標",
        "metrics_note": "差は最初の実行との差です。最良の検証正解率: 検証正解率が最も高いエポック (最良エポック) の値。"
                        "最終エポックの検証正解率: 最後のエポックの値。テストの指標は最終モデルのものです。",
        "p_holm": "p (ホルム法で調整)", "files_label": "ファイル", "to": "〜",
    },
}  # fmt: skip


STATUS_WORDS = {
    "en": {},
    "ja": {"finished": "完了", "running": "実行中", "diverged": "発散", "failed": "失敗", "interrupted": "中断",
           "incomplete": "未完了", "unreadable": "読み取り不能", "pruned": "打ち切り"},
}  # fmt: skip


REASONS_JA = [  # the reasons the harness itself writes into status.json; errors from libraries stay as they are
    (r"the loss became NaN or infinite in epoch (\d+)", "エポック {0} で損失が NaN または無限大になりました"),
    (r"stopped by (\w+) after epoch (\S+)", "{0} により、エポック {1} の後で停止しました"),
    (r"stopped by (\w+); the NumPy network does not resume",
     "{0} により停止しました (NumPy のネットワークは再開できません)"),
    (r"status\.json is missing or unreadable", "status.json がないか、読めません"),
    (r"the process stopped without a word \(killed\?\)", "プロセスが何も言わずに止まりました (強制終了?)"),
    (r"the run did not start \(exit (.*?)\); see its log",
     "実行が始まりませんでした (終了コード {0})。ログを見てください"),
    (r"its worker process died \((.*?)\): killed, out of memory or crashed",
     "ワーカープロセスが終了しました ({0}): 強制終了、メモリ不足、またはクラッシュ"),
]  # fmt: skip


def _translated(sentence: str) -> str | None:
    for pattern, words in REASONS_JA:
        if match := re.fullmatch(pattern, sentence):
            return words.format(*match.groups())
    return None


def reason_words(reason: str, lang: str) -> str:
    """Why a run stopped, translated where the harness wrote the sentence (or its parts, joined by '; ')."""
    if lang != "ja":
        return reason
    whole = _translated(reason)
    return whole or "; ".join(_translated(part) or part for part in reason.split("; "))


def status_words(lang: str) -> dict[str, str]:
    """A run's status as a page shows it; the English words are the statuses themselves."""
    return STATUS_WORDS[lang]


def status_word(status: str, lang: str) -> str:
    return STATUS_WORDS[lang].get(status, status)


def language(configured: str | None = None) -> str:
    if configured:
        return configured
    return "ja" if os.environ.get("LANG", "").lower().startswith("ja") else "en"


def labels(lang: str) -> dict[str, str]:
    """The label set; choosing Japanese also switches matplotlib to a Japanese font (no tofu boxes)."""
    if lang == "ja":
        import matplotlib_fontja

        matplotlib_fontja.japanize()
    return LABELS[lang]
