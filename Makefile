# The two commands of the README, each of which sets up .venv on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	@touch $(STAMP)

.PHONY: demo test bench clean

demo: $(STAMP)  ## the main job on embedded defaults, offline
	$(BIN)/pygent plugins list
	$(BIN)/python docs/examples/embed.py

test: $(STAMP)  ## the whole test suite
	$(BIN)/python -m pytest

bench: $(STAMP)  ## benchmarks (installs autogen-core, the bus baseline)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[bench]'
	$(BIN)/python bench/kernel.py

clean:
	rm -rf $(VENV) .pygent .pytest_cache
