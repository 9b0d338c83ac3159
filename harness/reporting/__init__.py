"""Reports, pages and comparisons, made from the run directories' files."""
