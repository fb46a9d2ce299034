# Set-up and entry points. `make demo` and `make test` each create .venv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint clean benchmark benchmark-quick

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

# Real-data benchmark, protocol v3 (leave one date out; under 3 h on 2 CPU cores, resumable):
# prepare the scenes from ../shared/data, run every case, put the aggregate table into README.md.
benchmark: $(BIN)/.installed
	$(BIN)/python benchmarks/prepare_data.py
	$(BIN)/est-stfm benchmark benchmarks/protocol-v3.yaml --out benchmarks/results-v3 \
		--runs benchmarks/runs-v3 --resume
	$(BIN)/python benchmarks/update_readme.py benchmarks/results-v3/summary.md README.md

# One case per scene (under 20 min): a quick check of the same protocol.
benchmark-quick: $(BIN)/.installed
	$(BIN)/python benchmarks/prepare_data.py
	$(BIN)/est-stfm benchmark benchmarks/protocol-v3.yaml --quick --out benchmarks/results-v3-quick \
		--runs benchmarks/runs-v3-quick

clean:
	rm -rf $(VENV) demo_out .pytest_cache .ruff_cache
