# Quick start:  make run   (set up .venv and run the default experiment)
#               make test  (set up .venv and run the tests)
PYTHON ?= python3
VENV := .venv
CORES ?= all
STAMP := $(VENV)/.installed

.PHONY: run test bench bench-scale clean

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/snakemake --cores $(CORES)

test: $(STAMP)
	$(VENV)/bin/pytest -q -rs $(PYTEST_ARGS)

bench: $(STAMP)
	$(VENV)/bin/python benchmarks/bench_default.py --cores $(if $(filter all,$(CORES)),$(shell nproc),$(CORES))

bench-scale: $(STAMP)
	$(VENV)/bin/python benchmarks/bench_scale.py --grid large-subset --reruns --cores $(if $(filter all,$(CORES)),$(shell nproc),$(CORES))

clean:
	rm -rf results logs .snakemake
