"""``python -m harness``: see harness/cli.py."""

import os

if __name__ == "__main__":  # not when a worker process (harness.groups.workers) imports this module
    # Read by TensorFlow once its logging is set up; harness.native_logs filters what it prints before that.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from harness.native_logs import filter_native_logs

    filter_native_logs()
    from harness.cli import main
    from harness.process_exit import exit_now

    exit_now(main())
