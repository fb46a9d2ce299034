# Set-up and entry points. `make demo` and `make test` each create .venv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint clean benchmark

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install torch==2.13.0
	$(BIN)/pip install -e '.[dev,plots]'
	touch $@

demo: $(BIN)/.installed
	$(BIN)/est-stfm demo --out demo_out

test: $(BIN)/.installed
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m pytest -q

# Real-data benchmark (about 90 min on 2 CPU cores): prepare the scenes from ../shared/data, run
# the protocol, put the results table into README.md.
benchmark: $(BIN)/.installed
	$(BIN)/python benchmarks/prepare_data.py
	$(BIN)/est-stfm benchmark benchmarks/protocol-v2.yaml --out benchmarks/results \
		--runs benchmarks/runs
	$(BIN)/python benchmarks/update_readme.py benchmarks/results/results.md README.md

clean:
	rm -rf $(VENV) demo_out .pytest_cache .ruff_cache
