# Quick start:  make run   (set up .venv and run the default experiment)
#               make test  (set up .venv and run the tests)
PYTHON ?= python3
VENV := .venv
CORES ?= all
STAMP := $(VENV)/.installed

.PHONY: run test test-fast bench bench-scale slurm-profile clean

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/snakemake --cores $(CORES)

# The tests run in TEST_WORKERS parallel processes (pytest-xdist; each module's tests on one worker,
# sharing its fixtures: tests/conftest.py starts the longest first), then the tests marked alone
# (they measure CPU efficiency) by themselves. One worker more than cores: an integration test
# spends much of its time waiting (start-ups, Slurm's queue). Exit 5 of the second: none selected.
TEST_WORKERS ?= 3
test: $(STAMP)
	$(VENV)/bin/pytest -q -rs -n $(TEST_WORKERS) --dist loadscope --no-loadscope-reorder -m "not alone" \
		$(PYTEST_ARGS); first=$$?; \
	$(VENV)/bin/pytest -q -rs -m alone $(PYTEST_ARGS); second=$$?; \
	[ $$second -eq 5 ] && second=0; exit $$(( first ? first : second ))

# While working: the unit tests and a few tiny workflow runs (about 4 minutes on 2 cores).
test-fast: $(STAMP)
	$(VENV)/bin/pytest -q -rs -m "fast or not (integration or slurm)" $(PYTEST_ARGS)

bench: $(STAMP)
	$(VENV)/bin/python benchmarks/bench_default.py --cores $(if $(filter all,$(CORES)),$(shell nproc),$(CORES))

bench-scale: $(STAMP)
	$(VENV)/bin/python benchmarks/bench_scale.py --grid large-subset --reruns --cores $(if $(filter all,$(CORES)),$(shell nproc),$(CORES))

# Install profiles/slurm as your Snakemake profile 'slurm', so `snakemake --profile slurm` finds it
# (Snakemake looks in $XDG_CONFIG_HOME/snakemake, by default ~/.config/snakemake). A profile of
# that name you already have is left as it is.
SLURM_PROFILE := $(or $(XDG_CONFIG_HOME),$(HOME)/.config)/snakemake/slurm
slurm-profile:
	@if [ -e "$(SLURM_PROFILE)/config.yaml" ]; then \
		echo "$(SLURM_PROFILE)/config.yaml exists: left as it is (compare it with profiles/slurm/config.yaml)"; \
	else \
		mkdir -p "$(SLURM_PROFILE)" && cp profiles/slurm/config.yaml "$(SLURM_PROFILE)/config.yaml" && \
		echo "installed $(SLURM_PROFILE)/config.yaml: snakemake --profile slurm"; \
	fi

clean:
	rm -rf results logs .snakemake
