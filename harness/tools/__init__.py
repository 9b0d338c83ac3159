"""Benchmarks and the gradient check."""
