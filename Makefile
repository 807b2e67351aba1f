# Every target builds or refreshes the virtualenv itself, so a fresh clone only needs `make <target>`.
VENV ?= .venv
PYTHON := $(VENV)/bin/python
PYTEST_ARGS ?=
# `make faults`: dossiers driven, and more options (--seed N, --state-dir D, --keep, --faults a,b…).
FAULTS_DOSSIERS ?= 200
FAULTS_ARGS ?=
LINT_PATHS := $(wildcard domain kernel services workflows devstack entraide_cli bench examples)
# setuptools' editable install maps the top-level packages present at install time: reinstall
# when a new one appears (e.g. gen/entraide after `make proto`).
PACKAGE_MARKERS := $(wildcard */__init__.py gen/*/__init__.py)

.PHONY: all venv oidc browser up down status test unit faults lint proto clean-state

all: test

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml $(PACKAGE_MARKERS)
	@if [ ! -x "$(PYTHON)" ]; then \
		if command -v python3.11 >/dev/null 2>&1; then python3.11 -m venv $(VENV); \
		else python3 -m venv $(VENV); fi; \
	fi
	$(PYTHON) -m pip install -e '.[dev]'
	touch $@

# The OpenID provider of the console's tests (npm oidc-provider, from its lock file).
OIDC_MODULES := devstack/oidc/node_modules/.installed
oidc: $(OIDC_MODULES)

$(OIDC_MODULES): devstack/oidc/package.json devstack/oidc/package-lock.json
	cd devstack/oidc && npm ci --no-audit --no-fund
	touch $@

# Debian's Chromium for the console's browser tests (Playwright's own download is not used).
browser:
	@command -v /usr/bin/chromium >/dev/null 2>&1 || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get install -y chromium || { $$SUDO apt-get update && $$SUDO apt-get install -y chromium; }; }

up: $(VENV)/.installed
	$(VENV)/bin/entraide-stack up

down: $(VENV)/.installed
	$(VENV)/bin/entraide-stack down

status: $(VENV)/.installed
	$(VENV)/bin/entraide-stack status

test: $(VENV)/.installed $(OIDC_MODULES) browser
	$(PYTHON) -m pytest $(PYTEST_ARGS)

# The unit layer alone: pure code, no server (a few seconds).
unit: $(VENV)/.installed
	$(PYTHON) -m pytest -q tests/unit

# The fault matrix on a stack of its own (devstack/faults): prints it, exits 1 on a loss or a double.
faults: $(VENV)/.installed
	$(PYTHON) -m devstack.faults --dossiers $(FAULTS_DOSSIERS) $(FAULTS_ARGS)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check $(LINT_PATHS) tests
	$(VENV)/bin/ruff format --check $(LINT_PATHS) tests
	$(VENV)/bin/mypy $(LINT_PATHS)

proto: $(VENV)/.installed
	$(PYTHON) -m devstack.protogen

clean-state: down
	rm -rf .state
