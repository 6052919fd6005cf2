# Two commands matter: `make bench` (the main job) and `make test` (the suite).
# Both build the virtual environment .venv on first use, or again when pyproject.toml changes.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.thesis-lab-installed
KERNEL := thesis-lab
# torch/torchvision releases that install from local disk on the project's machines.
TORCH  ?= torch==2.14.1 torchvision==0.29.1

.PHONY: all venv test bench appendix lab clean-results

all: test

venv: $(STAMP)

$(STAMP): pyproject.toml Makefile
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Python (thesis-lab)" >/dev/null
	@touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest tests $(wildcard notebooks/theory_*.ipynb) --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg -p no:cacheprovider

bench: $(STAMP)
	$(BIN)/python -m thesis_lib prepare --dataset synthetic

lab: $(STAMP)
	$(BIN)/jupyter lab --notebook-dir=notebooks

clean-results:
	rm -rf data/results
