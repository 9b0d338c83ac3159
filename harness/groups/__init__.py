"""Groups of seeds, sweeps and `make all`: many runs in warm worker processes."""
