"""Training and evaluating one run, and writing its results (never its report)."""
