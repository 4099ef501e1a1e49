# Every target builds the virtualenv first when it is missing or requirements.txt or
# pyproject.toml changed; it installs the pinned requirements, then the gitops CLI itself
# (editable, without build isolation: nothing is downloaded for the build), as .venv/bin/gitops.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STACK ?= staging
PLAN_JSON ?=
DIAGRAM_DIR ?=
WITH ?=

.PHONY: venv plan test lock bench bench-scale bench-promote bench-values clean

venv: $(VENV)/.installed

# The gitops CLI's dependencies are held to the versions of its hash lock (gitops/requirements.lock,
# what CodeBuild installs), so a fresh .venv resolves exactly what the lock and its tests expect.
$(VENV)/.installed: requirements.txt pyproject.toml gitops/requirements.lock
	@test -x $(PY) || { echo "make: creating the virtualenv $(VENV) with $(PYTHON)"; $(PYTHON) -m venv $(VENV); }
	@echo "make: installing the pinned requirements into $(VENV) (the first time takes a few minutes)"
	sed -n 's/^\([A-Za-z0-9._-]*==[^ ]*\).*/\1/p' gitops/requirements.lock > $(VENV)/lock-constraints.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --progress-bar off -r requirements.txt -c $(VENV)/lock-constraints.txt
	@echo "make: installing the gitops CLI into $(VENV) ($(VENV)/bin/gitops)"
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $@
	@echo "make: $(VENV) is ready"

# make plan STACK=prod [SUMMARY=1 | DIAGRAMS=0] [PLAN_JSON=file] [DIAGRAM_DIR=dir] [WITH="other.json ..."]
# WITH: the JSON plans of the other stacks in the same accounts, whose counts add up against AWS's quotas.
plan: venv
	$(PY) -m offline.plan --stack $(STACK) $(if $(filter 1,$(SUMMARY)),--summary) $(if $(filter 0,$(DIAGRAMS)),--no-diagrams) $(if $(PLAN_JSON),--json $(PLAN_JSON)) $(if $(DIAGRAM_DIR),--diagram-dir $(DIAGRAM_DIR)) $(foreach f,$(WITH),--with-plan $(f))

test: venv
	$(PY) -m pytest -q -n 2

# gitops/requirements.lock (what CodeBuild installs) from gitops/requirements.txt and the versions
# in .venv, with the sha256 of the files pip picks for CodeBuild; asks the package index (~2 min).
# It installs requirements.txt without the old lock's constraints first: a bumped pin may move them.
lock:
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --progress-bar off -r requirements.txt
	$(PY) tools/lock.py

bench: venv
	$(PY) bench/plan.py

bench-scale: venv
	$(PY) bench/scale.py

bench-promote: venv
	$(PY) bench/promote.py

bench-values: venv
	$(PY) bench/values.py

clean:
	rm -rf $(VENV)
