# recstrata: the two commands in the README work from a fresh clone on a fresh machine.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha256sum | cut -c1-12)

.PHONY: install test test-fast demo bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# torch is installed first and exactly at 2.13.0: the CPU build. Any other spec pulls a CUDA build.
$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[all,dev]'
	touch $(STAMP)

install: $(STAMP)

test: install
	$(BIN)/python -m pytest -q

test-fast: install
	$(BIN)/python -m pytest -q -m "not integration and not slow"

# evaluate the baselines on the bundled data, then serve the API on it (Ctrl-C to stop)
demo: install
	$(BIN)/recstrata evaluate --dataset ml-latest-small --protocol ratio --models pop,itemknn,ease,als,bpr
	$(BIN)/recstrata serve --dataset ml-latest-small

bench: install
	$(BIN)/python bench/baselines.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache
