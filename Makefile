# podheitor — every entry point a person or CI uses. See README.md.
SHELL := /bin/bash
PY ?= /usr/bin/python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test check lint unit contract bench setup clean

# Python environment: a venv on Debian's interpreter, the package in editable mode with its test extra.
$(STAMP): pyproject.toml scripts/setup-debian.sh
	scripts/setup-debian.sh base
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

setup: $(STAMP)

# The demo runs the posix plugin's job through the real backend; when Debian's Bacula can be
# installed (root or sudo) it also runs it through real bacula-dir/sd/fd with the shim.
DEMO_PLUGINS := $(abspath build/demo-plugins)
demo: $(STAMP)
	scripts/setup-debian.sh bacula || echo "demo: Bacula packages unavailable; protocol path only"
	$(MAKE) -s plugin PLUGINDIR=$(DEMO_PLUGINS)
	$(BIN)/podheitor demo --plugin-dir $(DEMO_PLUGINS)

# The whole suite: static checks first (cheap), then every test.
test: $(STAMP) lint
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check podheitor tests benchmarks
	$(BIN)/lint-imports
	$(BIN)/mypy podheitor

unit: $(STAMP)
	$(BIN)/pytest -q tests/unit

contract: $(STAMP)
	$(BIN)/pytest -q tests/contract

bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info

-include shim/shim.mk
