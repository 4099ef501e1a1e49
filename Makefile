# Every target builds the virtualenv first when it is missing or requirements.txt or
# pyproject.toml changed; it installs the pinned requirements, then the gitops CLI itself
# (editable, without build isolation: nothing is downloaded for the build), as .venv/bin/gitops.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STACK ?= staging
PLAN_JSON ?=
DIAGRAM_DIR ?=

.PHONY: venv plan test lock bench bench-promote bench-values clean

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml
	@test -x $(PY) || { echo "make: creating the virtualenv $(VENV) with $(PYTHON)"; $(PYTHON) -m venv $(VENV); }
	@echo "make: installing the pinned requirements into $(VENV) (the first time takes a few minutes)"
	$(PY) -m pip install --quiet --disable-pip-version-check --progress-bar off -r requirements.txt
	@echo "make: installing the gitops CLI into $(VENV) ($(VENV)/bin/gitops)"
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $@
	@echo "make: $(VENV) is ready"

# make plan STACK=prod [SUMMARY=1 | DIAGRAMS=0] [PLAN_JSON=file] [DIAGRAM_DIR=dir]
plan: venv
	$(PY) -m offline.plan --stack $(STACK) $(if $(filter 1,$(SUMMARY)),--summary) $(if $(filter 0,$(DIAGRAMS)),--no-diagrams) $(if $(PLAN_JSON),--json $(PLAN_JSON)) $(if $(DIAGRAM_DIR),--diagram-dir $(DIAGRAM_DIR))

test: venv
	$(PY) -m pytest -q -n 2

# gitops/requirements.lock (what CodeBuild installs) from gitops/requirements.txt and the versions
# in .venv, with the sha256 of the files pip picks for CodeBuild; asks the package index (~2 min).
lock: venv
	$(PY) tools/lock.py

bench: venv
	$(PY) bench/plan.py

bench-promote: venv
	$(PY) bench/promote.py

bench-values: venv
	$(PY) bench/values.py

clean:
	rm -rf $(VENV)
