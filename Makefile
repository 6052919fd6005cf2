# Two commands matter: `make bench` (the main job) and `make test` (the suite).
# Both build the virtual environment .venv on first use, or again when pyproject.toml changes.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.thesis-lab-installed
KERNEL := thesis-lab
# torch/torchvision releases that install from local disk on the project's machines.
TORCH  ?= torch==2.14.1 torchvision==0.29.1

.PHONY: all venv test test-fast bench report appendix lab clean-results gpu-check

all: test

venv: $(STAMP)

$(STAMP): pyproject.toml Makefile
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Python (thesis-lab)" >/dev/null
	@touch $(STAMP)

# Two processes, a test file each at a time (a notebook's cells share one kernel, a module's server one
# process): most tests wait on subprocesses, kernels and servers, so two run in about 60% of the time.
test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadfile tests $(wildcard notebooks/theory_*.ipynb) --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg -p no:cacheprovider

# The edit-test loop: no notebooks, no subprocess fan-out, nothing marked slow (under 90 s here).
test-fast: $(STAMP)
	$(BIN)/python -m pytest tests -m "not slow" -p no:cacheprovider

# The report is built even when some grid points failed; the exit status still says they did.
bench: $(STAMP)
	@$(BIN)/python -m thesis_lib sweep $(if $(GRID),--grid $(GRID)); status=$$?; \
	$(MAKE) --no-print-directory report && exit $$status

report: $(STAMP)
	@echo "report: $$($(BIN)/python -m thesis_lib report)"
	@echo "roofline: $$($(BIN)/python -m thesis_lib roofline report)"

appendix: $(STAMP)
	$(BIN)/python -m thesis_lib appendix

lab: $(STAMP)
	$(BIN)/jupyter lab --notebook-dir=notebooks

clean-results:
	rm -rf data/results

# The GPU check (README, section GPU). Made for a bare GPU machine: the machine's python3 with the
# wheels carried in .whl/ (scripts/gpu-wheels.sh), no .venv. GPUCHECK=--quick for the short one.
gpu-check:
	bash scripts/gpu-check.sh $(GPUCHECK)
