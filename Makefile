# Two commands: `make lab` for learners, `make test` for instructors and CI.
# Both set everything up first (venv, packages, .env, services, kernel) and are safe to re-run.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: lab test setup exercises doctor down clean

lab: setup
	$(BIN)/workshop lab

test: setup
	$(BIN)/pytest $(PYTEST_ARGS)

setup: $(STAMP)
	$(BIN)/workshop env
	$(BIN)/workshop up
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (workshop)" >/dev/null

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test,bench]"
	touch $(STAMP)

exercises: $(STAMP)
	$(BIN)/workshop exercises build

doctor: $(STAMP)
	$(BIN)/workshop doctor

down:
	$(BIN)/workshop down

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
