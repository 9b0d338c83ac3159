"""``python -m harness``: see harness/cli.py."""

import os
import sys

# TensorFlow's C++ start-up chatter is not for users; this must be set before TensorFlow loads.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from harness.cli import main  # noqa: E402

sys.exit(main())
