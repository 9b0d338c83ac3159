"""Datasets: loading, splitting, and the verified cache of decoded arrays."""
