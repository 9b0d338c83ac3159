# Every target forwards to the Python command line (python -m harness ...), which is the engine.
#   make setup | make experiment NAME=adam_lr [EPOCHS=3 DATASET=digits SEED=1 SET="key=value ..." RESUME=latest]
#   make experiment NAME=adam NOTE="try a lower rate" TAGS="baseline"
#   make experiment NAME=adam SEEDS=5 [JOBS=2; 0: here] | make sweep NAME=l2 GRID="model.l2=0.0001,0.01" [RANDOM=20 SEEDS=3]
#   make experiment NAME=adam FOLDS=5 (cross-validated; FOLDS on a sweep too) | make finalize SWEEP=<id> [SEEDS=5]
#   make table NAMES="adam sgd" [ROWS=experiment COLUMNS=dataset METRIC=test_accuracy FORMAT=latex SPREAD=sd]
#   make sweep NAME=adam GRID="optimizer.learning_rate=1e-4:1e-1:log" SEARCH=tpe TRIALS=20 [PRUNE=hyperband]
#   make sweep ... STORAGE=postgresql://user:pw@host/db, then on other machines: make sweep-worker SWEEP=<id> JOBS=2
#   make all [FORCE=1 JOBS=2 NAMES="adam sgd"] | make report | make compare NAMES="adam adam_lr"
#   make serve [PORT=8000] | make gradcheck NAME=l2 | make list | make bench [BENCH_MODEL=simple] | make bench-suite
#   make tag RUN=<run-id or experiment> TAGS="keep" [NOTE="..."] | make dashboard [SWEEP=<id>] [STORAGE=...]
#   make bench-index [RUNS=10000] | make bench-tuning [JOBS=2 TRIALS=12]
#   make du | make prune NAME=<sweep> KEEP=best:3 [CONFIRM=1] | make test | make test-fast | make lint

PYTHON_BOOTSTRAP ?= python3
VENV ?= .venv
PYTHON := $(VENV)/bin/python
REPORTS ?= reports
export REPORTS
# LANG=ja labels plots and pages in Japanese.
export LANG

COMMON_OPTIONS := $(if $(EPOCHS),--epochs $(EPOCHS)) $(if $(DATASET),--dataset $(DATASET)) \
	$(foreach setting,$(SET),--set $(setting))
GROUP_OPTIONS := $(if $(SEEDS),--seeds "$(SEEDS)") $(if $(FOLDS),--folds $(FOLDS)) $(if $(JOBS),--jobs $(JOBS))
NOTE_OPTIONS := $(if $(NOTE),--note "$(NOTE)") $(if $(TAGS),--tags "$(TAGS)")
RUN_OPTIONS := $(COMMON_OPTIONS) $(GROUP_OPTIONS) $(NOTE_OPTIONS) $(if $(SEED),--seed $(SEED)) $(if $(RESUME),--resume $(RESUME))
SWEEP_OPTIONS := $(COMMON_OPTIONS) $(GROUP_OPTIONS) $(NOTE_OPTIONS) --grid "$(GRID)" $(if $(RANDOM),--random $(RANDOM)) \
	$(if $(SEARCH),--search $(SEARCH)) $(if $(TRIALS),--trials $(TRIALS)) $(if $(PRUNE),--prune $(PRUNE)) \
	$(if $(STOP),--stop "$(STOP)") $(if $(KEEP),--keep $(KEEP))
# STORAGE (postgresql://...) reaches Python through the environment, not the command line: no password in `ps`.
export STORAGE

# TensorFlow's build for this machine: with CUDA where nvidia-smi finds a GPU, else the CPU-only wheel
# (no CUDA libraries to download, nor to look for at every start). JAX likewise.
HAS_GPU := $(shell nvidia-smi -L 2>/dev/null | grep -q GPU && echo yes)
ACCELERATOR_REQUIREMENTS := requirements-$(if $(HAS_GPU),gpu,cpu).txt

BENCH_MODEL ?= basic_dnn
BENCH_EPOCHS ?= 8

PORT ?= 8000
DASHBOARD_PORT ?= 8080

.PHONY: help setup experiment sweep finalize table all gradcheck report compare serve list tag du prune dashboard bench bench-suite bench-index bench-tuning bench-data sweep-worker test test-fast lint clean

help:
	@sed -n '2,14p' Makefile

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-cpu.txt requirements-gpu.txt pyproject.toml
	$(PYTHON_BOOTSTRAP) -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade pip
	@echo "installing requirements.txt and $(ACCELERATOR_REQUIREMENTS)"
	$(PYTHON) -m pip install --quiet -r requirements.txt -r $(ACCELERATOR_REQUIREMENTS)
	@echo "installing the harness itself (editable: import harness from any directory) and the Jupyter kernel keras-harness"
	$(PYTHON) -m pip install --quiet --no-deps -e .
	@# In this environment, not the user's home: each checkout's notebooks run its own code.
	$(PYTHON) -m ipykernel install --sys-prefix --name keras-harness --display-name "Python (keras-harness)" > /dev/null
	touch $@

experiment:
	@test -n "$(NAME)" || { echo "error: give an experiment, e.g. make experiment NAME=adam_lr (make list shows them)" >&2; exit 2; }
	$(PYTHON) -m harness run $(NAME) $(RUN_OPTIONS)

sweep:
	@test -n "$(NAME)" || { echo 'error: give an experiment, e.g. make sweep NAME=l2 GRID="model.l2=0.0001,0.001,0.01"' >&2; exit 2; }
	@test -n "$(GRID)" || { echo 'error: give the values to sweep, e.g. GRID="model.l2=0.0001,0.001,0.01 training.batch_size=64,128"' >&2; exit 2; }
	$(PYTHON) -m harness sweep $(NAME) $(SWEEP_OPTIONS)

# Another machine with the checkout and the data joins a sweep kept in a database, and takes its runs.
sweep-worker:
	@test -n "$(SWEEP)" || { echo 'error: give the sweep to join, e.g. make sweep-worker SWEEP=sweep-20261124-120000-ab12 STORAGE=postgresql://...' >&2; exit 2; }
	$(PYTHON) -m harness sweep-worker --sweep $(SWEEP) $(if $(JOBS),--jobs $(JOBS))

# Every experiment (or NAMES) in warm worker processes, JOBS of them (or N of make -j N); each is skipped
# when a finished run has the same config, code and data; FORCE=1 reruns. A failure does not stop the others.
all:
	$(PYTHON) -m harness all $(NAMES) $(COMMON_OPTIONS) $(if $(JOBS),--jobs $(JOBS)) $(if $(FORCE),,--skip-done)

gradcheck:
	@test -n "$(NAME)" || { echo "error: give an experiment, e.g. make gradcheck NAME=l2 DATASET=digits" >&2; exit 2; }
	$(PYTHON) -m harness gradcheck $(NAME) $(if $(DATASET),--dataset $(DATASET)) $(foreach setting,$(SET),--set $(setting))

report:
	$(PYTHON) -m harness report

compare:
	@test -n "$(NAMES)" || { echo 'error: name the runs, e.g. make compare NAMES="adam adam_lr"' >&2; exit 2; }
	$(PYTHON) -m harness compare $(NAMES)

serve:
	@mkdir -p $(REPORTS)
	@echo "serving $(REPORTS)/ at http://localhost:$(PORT)/: the pages of running runs and groups follow them live (Ctrl-C stops)"
	$(PYTHON) -m http.server $(PORT) --bind 127.0.0.1 --directory $(REPORTS)

list:
	@$(PYTHON) -m harness list

# Optuna's own web UI on a sweep's study (the newest sweep, SWEEP=<id>, or the database STORAGE names).
dashboard:
	$(PYTHON) -m harness dashboard $(if $(SWEEP),--sweep $(SWEEP)) --port $(DASHBOARD_PORT)

du:
	@$(PYTHON) -m harness du

# A sweep's best point by validation, trained again on training + validation data for the epochs it chose, over
# SEEDS (5 unless given), and tested once.
finalize:
	@test -n "$(SWEEP)" || { echo 'error: name the sweep, e.g. make finalize SWEEP=sweep-20261205-101500-ab12 [SEEDS=5]' >&2; exit 2; }
	$(PYTHON) -m harness finalize $(SWEEP) $(if $(SEEDS),--seeds "$(SEEDS)") $(if $(JOBS),--jobs $(JOBS))

# Experiments x datasets (ROWS, COLUMNS: any config key), mean over seeds or folds with its interval: a paper's table.
# ROWS and COLUMNS from make's command line only: a shell may export COLUMNS, its terminal's width.
TABLE_ROWS := $(if $(filter command line,$(origin ROWS)),$(ROWS))
TABLE_COLUMNS := $(if $(filter command line,$(origin COLUMNS)),$(COLUMNS))
table:
	@test -n "$(NAMES)" || { echo 'error: name the experiments (or groups), e.g. make table NAMES="adam sgd" [FORMAT=latex]' >&2; exit 2; }
	@$(PYTHON) -m harness table $(NAMES) $(if $(TABLE_ROWS),--rows $(TABLE_ROWS)) $(if $(TABLE_COLUMNS),--columns $(TABLE_COLUMNS)) \
		$(if $(METRIC),--metric $(METRIC)) $(if $(FORMAT),--format $(FORMAT)) $(if $(SPREAD),--spread $(SPREAD))

# The heavy files (model, checkpoints, TensorBoard events) of all but the KEEP=best:K best by validation: a dry run
# unless CONFIRM=1. NAME: an experiment (its runs), or a group or sweep (its points).
prune:
	@test -n "$(NAME)" || { echo 'error: give what to prune, e.g. make prune NAME=adam KEEP=best:3 [CONFIRM=1]' >&2; exit 2; }
	@test -n "$(KEEP)" || { echo 'error: give KEEP=best:K, e.g. make prune NAME=$(NAME) KEEP=best:3 [CONFIRM=1]' >&2; exit 2; }
	$(PYTHON) -m harness prune $(NAME) --keep $(KEEP) $(if $(CONFIRM),--confirm)

tag:
	@test -n "$(RUN)" || { echo 'error: name the run, e.g. make tag RUN=adam TAGS="keep" (its latest run, or a run id)' >&2; exit 2; }
	$(PYTHON) -m harness tag $(RUN) $(NOTE_OPTIONS)

# The benchmarks (benchmarks/, beside the package): each measures the harness side by side with what a user would
# otherwise run, and writes reports/bench/<kind>-<time>/.
bench:
	$(PYTHON) -m benchmarks training --model $(BENCH_MODEL) --epochs $(BENCH_EPOCHS)

# The reference notebook's code for its ten experiments in one process against `make all` on them.
bench-suite:
	$(PYTHON) -m benchmarks suite $(if $(JOBS),--jobs $(JOBS))

bench-index:
	$(PYTHON) -m benchmarks index $(if $(RUNS),--runs $(RUNS))

# Image folders of 10,000 and 100,000 PNGs and tables of 1 and 10 million rows, against Keras's and pandas' way.
bench-data:
	$(PYTHON) -m benchmarks data

# KerasTuner's introduction against the harness's sweep over the same space; KerasTuner is a benchmark
# dependency only (requirements-bench.txt), installed here.
bench-tuning: setup
	$(PYTHON) -m pip install --quiet -r requirements-bench.txt
	$(PYTHON) -m benchmarks tuning $(if $(JOBS),--jobs $(JOBS)) $(if $(TRIALS),--trials $(TRIALS))

# The suite in TEST_JOBS processes (pytest-xdist), one test file to a process at a time, so that a file's shared
# fixtures (a PostgreSQL cluster, a browser, trained runs) are made once; TEST_JOBS=0 runs it in this process.
TEST_JOBS ?= 2
test:
	$(PYTHON) -m pytest $(if $(filter-out 0,$(TEST_JOBS)),-n $(TEST_JOBS) --dist loadfile)

# The README's promises (a run and its page, a group, a comparison, a sweep, bad input), under a minute: only the
# files that hold them are collected (collecting every file imports TensorFlow in each test process).
FAST_TESTS = $(shell grep -l "pytest.mark.fast" tests/test_*.py)
test-fast:
	$(PYTHON) -m pytest -m fast $(FAST_TESTS) $(if $(filter-out 0,$(TEST_JOBS)),-n $(TEST_JOBS) --dist load)

lint:
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .
	$(VENV)/bin/lint-imports

clean:
	rm -rf $(REPORTS)
