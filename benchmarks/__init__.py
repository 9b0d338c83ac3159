"""The harness measured side by side with what a user would otherwise run: `python -m benchmarks` (make bench*)."""
