# Enlace — the two commands a newcomer needs are `make up` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HOME_DIR ?= .enlace
# make test's pytest processes (pytest-xdist; each takes whole test files). 0: one process.
TEST_WORKERS ?= 2
STAMP  := $(VENV)/.installed

.PHONY: up test faults bench lint venv system-deps clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

# Debian packages the tests need (browser for the console tests, PostgreSQL client libs).
system-deps:
	@bash deploy/scripts/system-deps.sh

up: $(STAMP)
	@test -f $(HOME_DIR)/enlace.yaml || $(BIN)/enlace --home $(HOME_DIR) init $(HOME_DIR) --demo
	$(BIN)/enlace --home $(HOME_DIR) up

test: $(STAMP) system-deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	@$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder; rc=$$?; if [ $$rc -eq 5 ]; then echo 'make test: pytest collected no tests' >&2; exit 1; fi; exit $$rc

# The fault suite at ten times make test's counts, full-length faults (under 20 min on
# 2 cores); its table is printed at the end and kept in .enlace-faults.md.
FAULT_SCALE ?= 10
faults: $(STAMP) system-deps
	@ENLACE_FAULT_SCALE=$(FAULT_SCALE) $(BIN)/pytest -m faults tests/faults; rc=$$?; \
	  test -f .enlace-faults.md && cat .enlace-faults.md; exit $$rc

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
