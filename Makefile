# Every target builds the virtualenv first when it is missing or requirements.txt or
# pyproject.toml changed; it installs the pinned requirements, then the gitops CLI itself
# (editable, without build isolation: nothing is downloaded for the build), as .venv/bin/gitops.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STACK ?= staging
PLAN_JSON ?=
DIAGRAM_DIR ?=
SUMMARY ?=
DIAGRAMS ?=
WITH ?=
# Where the plan's files go: a relative PLAN_JSON or DIAGRAM_DIR lands in this folder, which git ignores.
PLAN_OUTPUT := plan-output

.PHONY: venv plan sandbox test lock bench bench-scale bench-promote bench-values clean

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

# A yes/no switch: $(call switch,NAME) is "yes" for 1/yes/true/on, empty for 0/no/false/off or
# unset (any case); any other value stops make naming the variable, never read as the default.
switch = $(strip $(foreach value,$(shell printf '%s' '$(subst ','\'',$($(1)))' | tr A-Z a-z),\
	$(if $(filter 1 yes true on,$(value)),yes,$(if $(filter 0 no false off,$(value)),,\
	$(error $(1)=$($(1)) is neither yes nor no: write $(1)=yes or $(1)=no)))))
# --summary or --no-diagrams (--summary prints no diagrams either); both switches judged either way.
plan_view = $(if $(if $(DIAGRAMS),$(call switch,DIAGRAMS),yes),\
	$(if $(call switch,SUMMARY),--summary),$(if $(call switch,SUMMARY),--summary,--no-diagrams))
# A relative output path, under $(PLAN_OUTPUT)/; an absolute one as given.
plan_output = $(if $(filter /%,$(1)),$(1),$(PLAN_OUTPUT)/$(1))

# make plan STACK=prod [SUMMARY=yes | DIAGRAMS=no] [PLAN_JSON=prod.json] [DIAGRAM_DIR=diagrams] [WITH="other.json ..."]
# WITH: the JSON plans of the other stacks in the same accounts, whose counts add up against AWS's quotas
# (relative ones read from $(PLAN_OUTPUT)/, where PLAN_JSON wrote them).
# GNU make exits 2 whenever a recipe fails: its "Error N" line carries the plan's own exit code N,
# and `$(PY) -m offline.plan` exits with it (docs/guide/getting-started.md).
plan: venv
	$(PY) -m offline.plan --stack $(STACK) $(plan_view) $(if $(PLAN_JSON),--json $(call plan_output,$(PLAN_JSON))) $(if $(DIAGRAM_DIR),--diagram-dir $(call plan_output,$(DIAGRAM_DIR))) $(foreach f,$(WITH),--with-plan $(call plan_output,$(f)))

# The gitops CLI's whole flow on this machine: a git server, GitHub-, EKS- and Kubernetes-like APIs
# on 127.0.0.1 and a repository from `gitops init`; prints the commands to paste; Ctrl-C stops it.
sandbox: venv
	$(PY) -m sandbox

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
