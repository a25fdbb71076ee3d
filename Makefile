# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
export DATA_DIR ?= ./data

.PHONY: run test bench lint install clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,semantic]'
	@touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/omniroute serve

test: $(STAMP)
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python bench/run.py
	$(BIN)/python bench/history.py

lint: $(STAMP)
	$(BIN)/ruff check omniroute tests bench

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
