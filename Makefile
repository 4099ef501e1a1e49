# Every target builds the virtualenv first when it is missing or requirements.txt changed.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STACK ?= staging
PLAN_JSON ?=
DIAGRAM_DIR ?=

.PHONY: venv plan test bench bench-promote clean

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

# make plan STACK=prod [SUMMARY=1 | DIAGRAMS=0] [PLAN_JSON=file] [DIAGRAM_DIR=dir]
plan: venv
	$(PY) -m offline.plan --stack $(STACK) $(if $(filter 1,$(SUMMARY)),--summary) $(if $(filter 0,$(DIAGRAMS)),--no-diagrams) $(if $(PLAN_JSON),--json $(PLAN_JSON)) $(if $(DIAGRAM_DIR),--diagram-dir $(DIAGRAM_DIR))

test: venv
	$(PY) -m pytest -q -n 2

bench: venv
	$(PY) bench/plan.py

bench-promote: venv
	$(PY) bench/promote.py

clean:
	rm -rf $(VENV)
