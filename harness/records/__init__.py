"""The one reader and writer of run and group directories: every file a run or group holds is named, read and
written here (harness.records.run_dir.RunDir, harness.records.group_dir.GroupDir), and nowhere else.

    from harness.records import RunDir
    RunDir("reports/adam_lr/latest").metrics()["test_accuracy"]
"""

from harness.records.environment import environment, process_command
from harness.records.folders import (
    LATEST,
    NOT_RUNS,
    TENSORBOARD,
    create_member_dir,
    find_run,
    find_target,
    group_directories,
    new_run_dir,
    point_latest,
    reports_root,
    run_directories,
    run_folders,
    tensorboard_dir,
)
from harness.records.group_dir import GroupDir, is_group
from harness.records.reasons import reason, reason_code, reason_text
from harness.records.run_dir import EXIT_CODES, STATUSES, RunDir, read_json, read_table, scores_text

__all__ = [
    "EXIT_CODES",
    "LATEST",
    "NOT_RUNS",
    "STATUSES",
    "TENSORBOARD",
    "GroupDir",
    "RunDir",
    "create_member_dir",
    "environment",
    "find_run",
    "find_target",
    "group_directories",
    "is_group",
    "new_run_dir",
    "point_latest",
    "process_command",
    "read_json",
    "read_table",
    "reason",
    "reason_code",
    "reason_text",
    "reports_root",
    "run_directories",
    "run_folders",
    "scores_text",
    "tensorboard_dir",
]
