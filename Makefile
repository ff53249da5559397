# Two commands on a fresh machine:  `make demo` (the main job on the built-in demo corpus) and `make test`.
# Each creates .venv and installs the project into it first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU wheel of torch 2.13.0 lies on this machine's disk; asking pip for plain `torch` would download a
# multi-GB CUDA build. Override for your machine, e.g. `make test TORCH_SPEC='torch>=2.2'`, or TORCH_SPEC= to
# let pip resolve torch from the project's own requirement.
TORCH_SPEC ?= torch==2.13.0
DEMO_OUT ?= results/demo
PYTEST_ARGS ?=

.PHONY: install demo test clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(if $(strip $(TORCH_SPEC)),$(BIN)/pip install -q "$(TORCH_SPEC)")
	$(BIN)/pip install -q -e ".[test]"
	touch $@

demo: install
	SPOOFBENCH_CACHE=.cache $(BIN)/bench run --detectors rawnet2.small,lfcc-gmm.small,cqcc-gmm.small --out $(DEMO_OUT)

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .cache build *.egg-info
