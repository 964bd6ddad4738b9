# cs-playbook: every target creates .venv and installs the package first when needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.DEFAULT_GOAL := help
# PROFILE=us-plg: the second demo company (US product-led, USD) in data/demo-us-plg/, generated when missing.
PROFILE ?=
PROFILE_DIR := data/demo-$(PROFILE)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	$(BIN)/python -m ipykernel install --sys-prefix --name cs-playbook --display-name "cs-playbook (.venv)" >/dev/null
	touch $(STAMP)

## help: list the targets
help:
	@grep -E '^## ' $(MAKEFILE_LIST) | sed 's/^## /  /'

## venv: create .venv and install the package with its test tools
venv: $(STAMP)

## report: run the quarterly report on the configured data (the demo company by default); QUARTER=2026Q3 ARGS=--force; PROFILE=us-plg writes reports/us-plg/<quarter>/
report: $(STAMP)
ifneq ($(PROFILE),)
	test -f $(PROFILE_DIR)/accounts.csv || $(BIN)/cs-playbook demo-data --profile $(PROFILE) --out $(PROFILE_DIR)
	$(BIN)/cs-playbook report --data $(PROFILE_DIR) --reports-dir reports/$(PROFILE) $(if $(QUARTER),--quarter $(QUARTER)) $(ARGS)
else
	$(BIN)/cs-playbook report $(if $(QUARTER),--quarter $(QUARTER)) $(ARGS)
endif

## test: run the whole test suite (unit tests and every notebook under nbval on a small demo company)
test: $(STAMP)
	$(BIN)/python -m pytest $(ARGS)

## lab: open JupyterLab on the notebooks with the package importable
lab: $(STAMP)
	$(BIN)/jupyter lab notebooks/

## demo-data: (re)generate the demo company into data/demo (PROFILE=us-plg: data/demo-us-plg)
demo-data: $(STAMP)
	$(BIN)/cs-playbook demo-data $(if $(PROFILE),--profile $(PROFILE) --out $(PROFILE_DIR)) $(ARGS)

## lint: ruff check (package, tests, benchmarks and notebooks) and format check
lint: $(STAMP)
	$(BIN)/ruff check cs_playbook tests benchmarks notebooks
	$(BIN)/ruff format --check cs_playbook tests benchmarks

## bench: run the benchmarks (by hand; they print figures and ratios, they assert nothing)
bench: $(STAMP)
	for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

## clean: remove the virtual environment, generated data and reports
clean:
	rm -rf $(VENV) data .cache
	find reports -mindepth 1 -maxdepth 1 ! -name README.md ! -name .gitkeep -exec rm -rf {} +

.PHONY: help venv report test lab demo-data lint bench clean
