# Every target forwards to the Python command line (python -m harness ...), which is the engine.
#   make setup | make experiment NAME=adam_lr [EPOCHS=3 DATASET=digits SEED=1 SET="key=value ..." RESUME=latest]
#   make report | make compare NAMES="adam adam_lr" | make serve [PORT=8000]
#   make gradcheck NAME=l2 [DATASET=digits] | make list | make bench [BENCH_MODEL=simple] | make test | make lint

PYTHON_BOOTSTRAP ?= python3
VENV ?= .venv
PYTHON := $(VENV)/bin/python
REPORTS ?= reports
export REPORTS
# LANG=ja labels plots and pages in Japanese.
export LANG

RUN_OPTIONS := $(if $(EPOCHS),--epochs $(EPOCHS)) $(if $(DATASET),--dataset $(DATASET)) \
	$(if $(SEED),--seed $(SEED)) $(foreach setting,$(SET),--set $(setting)) $(if $(RESUME),--resume $(RESUME))

BENCH_MODEL ?= basic_dnn
BENCH_EPOCHS ?= 3

PORT ?= 8000

.PHONY: help setup experiment gradcheck report compare serve list bench test lint clean

help:
	@sed -n '2,4p' Makefile

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	$(PYTHON_BOOTSTRAP) -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet -r requirements.txt
	touch $@

experiment:
	@test -n "$(NAME)" || { echo "error: give an experiment, e.g. make experiment NAME=adam_lr (make list shows them)" >&2; exit 2; }
	$(PYTHON) -m harness run $(NAME) $(RUN_OPTIONS)

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
	@echo "serving $(REPORTS)/ at http://localhost:$(PORT)/ (Ctrl-C stops)"
	$(PYTHON) -m http.server $(PORT) --bind 127.0.0.1 --directory $(REPORTS)

list:
	@$(PYTHON) -m harness list

bench:
	$(PYTHON) -m harness bench --model $(BENCH_MODEL) --epochs $(BENCH_EPOCHS)

test:
	$(PYTHON) -m pytest

lint:
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .

clean:
	rm -rf $(REPORTS)
