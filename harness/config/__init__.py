"""What an experiment is: the config schema, experiment files, sweep grids."""
