# Two commands: `make lab` for learners, `make test` for instructors and CI.
# Both set everything up first and are safe to re-run: the Python packages (below), then
# `workshop setup` (workshop/setup.py): Debian packages, .env, services, Jupyter kernel.
# `make lab` opens the lab even when something is missing (the doctor marks the chapters
# affected); `make test` stops with the command that installs it.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PIPLOG := .workshop/pip.log

.PHONY: lab test setup exercises doctor down clean

lab: $(STAMP)
	@$(BIN)/workshop setup lab
	@$(BIN)/workshop lab

test: $(STAMP)
	@$(BIN)/workshop setup test
	$(BIN)/pytest $(PYTEST_ARGS)

setup: $(STAMP)
	@$(BIN)/workshop setup lab

# pip prints hundreds of lines (and this machine's index warnings): they go to $(PIPLOG),
# and only its last lines are shown, if it fails.
$(STAMP): pyproject.toml
	@mkdir -p $(dir $(PIPLOG)) && : > $(PIPLOG)
	@echo "Python packages: installing into $(VENV) (log: $(PIPLOG)) ..."
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) >> $(PIPLOG) 2>&1 || { cat $(PIPLOG); exit 1; }
	@$(BIN)/python -m pip install --upgrade pip -e ".[test,bench,classroom]" >> $(PIPLOG) 2>&1 \
	  || { grep -v "^WARNING: Location" $(PIPLOG) | tail -n 20; echo "pip failed: full log in $(PIPLOG)"; exit 1; }
	@touch $(STAMP)

exercises: $(STAMP)
	$(BIN)/workshop exercises build

doctor: $(STAMP)
	$(BIN)/workshop doctor

down:
	$(BIN)/workshop down

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
