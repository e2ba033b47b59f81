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
# One pinned set of versions: `make lab`, `make test` and the lab image (docker/Dockerfile) all
# install from it; `make lock` refreshes it. pyproject.toml keeps ranges for installs elsewhere.
LOCK   := constraints.txt
EXTRAS := test,bench,classroom
# The lock is resolved on Debian 12's Python (3.11.2, the lab image's): some releases require a
# later 3.11 patch (e.g. soupsieve 3.0.2+ needs >=3.11.5) and would not install there.
LOCK_PYTHON ?= $(firstword $(wildcard /usr/bin/python3.11) $(PYTHON))

.PHONY: lab test test-containers lock setup exercises doctor down clean

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
$(STAMP): pyproject.toml $(LOCK)
	@mkdir -p $(dir $(PIPLOG)) && : > $(PIPLOG)
	@echo "Python packages: installing into $(VENV) (log: $(PIPLOG)) ..."
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) >> $(PIPLOG) 2>&1 || { cat $(PIPLOG); exit 1; }
	@$(BIN)/python -m pip install --upgrade pip -c $(LOCK) -e ".[$(EXTRAS)]" >> $(PIPLOG) 2>&1 \
	  || { grep -v "^WARNING: Location" $(PIPLOG) | tail -n 20; echo "pip failed: full log in $(PIPLOG)"; exit 1; }
	@touch $(STAMP)

# The containerised stack, for real (tests/containers): every image built, the stack up, the
# chapter notebooks run inside the lab container, the orders/pubsub/cqrs profiles, persistence,
# and everything torn down. Docker if it runs here, else podman (installed by `workshop setup
# test`). `make test` runs it too (in turn, not beside other tests), wherever an
# engine is usable (else it says, in one line, what is missing); this target runs it alone and
# fails without an engine. COLD=1 starts from an empty image store, as CI's fresh machine does.
test-containers: $(STAMP)
	@$(BIN)/workshop setup test
	WORKSHOP_CONTAINER_TEST=1 WORKSHOP_CONTAINER_COLD=$(if $(COLD),1,0) \
	  $(BIN)/pytest tests/containers -p no:cacheprovider -s --durations=0 $(PYTEST_ARGS)

# Refresh $(LOCK): the newest releases within pyproject.toml's ranges, resolved in a fresh venv,
# pip included (setuptools is the build's own); then every test runs on them (the venv is
# reinstalled from the new lock first).
lock:
	@rm -rf .workshop/lock-venv && mkdir -p .workshop && $(LOCK_PYTHON) -m venv .workshop/lock-venv
	@echo "Resolving the newest versions within pyproject.toml's ranges for $$($(LOCK_PYTHON) -V) (log: .workshop/lock.log) ..."
	@.workshop/lock-venv/bin/python -m pip install --upgrade pip ".[$(EXTRAS)]" > .workshop/lock.log 2>&1 \
	  || { grep -v "^WARNING: Location" .workshop/lock.log | tail -n 20; echo "pip failed: full log in .workshop/lock.log"; exit 1; }
	@{ sed -n '/^#/p;/^[^#]/q' $(LOCK); .workshop/lock-venv/bin/python -m pip freeze --all --exclude-editable \
	  | grep -iv '^workshop @' | grep -v '^setuptools=='; } > $(LOCK).new && mv $(LOCK).new $(LOCK) && rm -rf .workshop/lock-venv
	@echo "$(LOCK): $$(grep -c '==' $(LOCK)) pinned versions; now the tests, on exactly these:"
	@$(MAKE) test

exercises: $(STAMP)
	$(BIN)/workshop exercises build

doctor: $(STAMP)
	$(BIN)/workshop doctor

down:
	$(BIN)/workshop down

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
