# The two commands of the README, each of which sets up .venv on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LOG := $(VENV)/install.log
# A portable llama.cpp build: no -march=native, so a wheel built once runs on any x86-64 with AVX2.
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX512=OFF

$(STAMP): pyproject.toml
	@command -v bwrap >/dev/null || { test "$$(id -u)" = 0 && apt-get update -q && apt-get install -y -q bubblewrap; } \
	  || echo "WARNING: bubblewrap (bwrap) is missing and could not be installed (run as root: apt-get install bubblewrap). The sandbox refuses to run untrusted code without it, unless plugins.toml says isolation = \"weak\" in [sandbox]."
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "Installing PyGent Factory and its test tools into $(VENV) (log: $(LOG))."
	@echo "The first time, pip builds llama-cpp-python from source: about 10-20 minutes on 2 cores."
	@$(BIN)/python -m pip install -v --disable-pip-version-check -e '.[test]' > $(LOG) 2>&1 & pid=$$!; \
	  while kill -0 $$pid 2>/dev/null; do \
	    sleep 3; step=$$(grep -o '\[ *[0-9]*%\] [A-Za-z]* [A-Za-z+]* object [^ ]*' $(LOG) | tail -1); \
	    printf '\r\033[K  %s  %s' "$$(date +%T)" "$${step:-$$(tail -c 100 $(LOG) | tr -d '\r' | tail -1 | cut -c1-90)}"; \
	  done; echo; \
	  wait $$pid || { tail -40 $(LOG); echo "pip install failed; the whole log is $(LOG)"; exit 1; }
	@touch $(STAMP)

.PHONY: demo test bench clean

demo: $(STAMP)  ## the main job on embedded defaults, offline
	$(BIN)/python docs/examples/agents_demo.py

test: $(STAMP)  ## the whole test suite
	$(BIN)/python -m pytest

bench: $(STAMP)  ## benchmarks (installs autogen-core, Agno, FastAPI, granian and wrk: baselines, servers, load generator)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[bench]'
	@command -v wrk >/dev/null || apt-get install -y -q wrk
	$(BIN)/python bench/kernel.py
	$(BIN)/python bench/agent.py
	$(BIN)/python bench/http.py
	$(BIN)/python bench/sandbox.py
	$(BIN)/python bench/knowledge.py
	$(BIN)/python bench/reasoning.py

clean:
	rm -rf $(VENV) .pygent .pytest_cache
