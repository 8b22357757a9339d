# adlab: two commands on a fresh machine — `make demo` and `make test` (both install first).
PY ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | sha256sum | cut -c1-12)

.PHONY: setup demo test test-all lint bench clean

$(STAMP): pyproject.toml constraints.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first, from the standard (CUDA) builds: they run on CPU-only machines too.
	$(BIN)/pip install -q -c constraints.txt torch==2.14.1 torchvision==0.29.1
	# every extra (anomalib, vlm, read) plus the test tools; a base `pip install adlab` needs none.
	$(BIN)/pip install -q -c constraints.txt -e ".[all,test]"
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(BIN)/adlab demo

# The suite CI runs: everything except heavy tests, plus one representative heavy test of each kind.
test: setup
	$(BIN)/python -m pytest -n 2 -m "not heavy or representative"

# Style, the import contracts (pyproject's [tool.importlinter]) and types; .ci/run runs it first.
lint: setup
	$(BIN)/ruff check adlab tests benchmarks
	$(BIN)/lint-imports
	$(BIN)/mypy

test-all: setup
	$(BIN)/python -m pytest -n 2

clean:
	rm -rf $(VENV) .pytest_cache
