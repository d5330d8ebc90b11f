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

# The end-to-end tests mostly wait (job polls, long-running operations, servers starting), so four
# workers beat two even on two cores: 181 s against 246 s with -n 2 (202 s with -n 3), and 445 s
# for the suite before the stand-in `az` ran through its fork server (tests/fake_az/forkserver.py:
# the SDK imported once per worker instead of once per `az` call), measured back to back on a
# quiet 2-core machine. AMLGEN_TEST_AZ_FORK=0 runs each `az` call as a fresh interpreter.
test: lint types check readme-check  ## lint + types + render check + README blocks + the tests
	$(BIN)/pytest -q -n 4

# Every test that starts a process is marked slow (tests/conftest.py fails one that is not), so
# this is the in-process suite: 21 s on a quiet machine (51 s before), about a minute under load;
# serial, since workers would each import the SDK again.
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
