# Every target sets up what it needs: on a fresh clone `make test` and `make demo` just work.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.amlgen-installed

.PHONY: install render check readme readme-check lint format types test test-fast demo bench catalog clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

render: $(STAMP)  ## regenerate azureml/ from params/
	$(BIN)/amlgen render --all

check: $(STAMP)  ## fail if the committed azureml/ is stale
	$(BIN)/amlgen render --all --check

readme: $(STAMP)  ## rewrite README.md's output blocks from the tool (review the diff, commit)
	$(BIN)/python scripts/readme_blocks.py --write

readme-check: $(STAMP)  ## fail if a README output block no longer matches the tool
	$(BIN)/python scripts/readme_blocks.py --check

lint: $(STAMP)
	$(BIN)/ruff check generator tests bench scripts
	$(BIN)/ruff format --check generator tests bench scripts

format: $(STAMP)
	$(BIN)/ruff check --fix generator tests bench scripts
	$(BIN)/ruff format generator tests bench scripts

types: $(STAMP)
	$(BIN)/mypy

# The end-to-end tests wait on servers and `az` subprocesses: two workers keep CI well under 20 min.
test: lint types check readme-check  ## lint + types + render check + README blocks + the tests
	$(BIN)/pytest -q -n 2

test-fast: $(STAMP)  ## skip the slow end-to-end tests
	$(BIN)/pytest -q -m "not slow"

catalog: $(STAMP)  ## re-derive the bundled catalogs from ../shared/reference/specs
	$(BIN)/python scripts/build_catalog.py

demo: $(STAMP)  ## the whole flow offline against the local emulator (build/demo, git-ignored)
	$(BIN)/python scripts/demo.py

bench: $(STAMP)  ## benchmarks, each against a baseline run side by side
	$(BIN)/python bench/bench_render.py
	$(BIN)/python bench/bench_validate.py
	$(BIN)/python bench/bench_data.py --scale 0.1

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache
