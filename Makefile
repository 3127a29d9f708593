# Two commands do everything on a fresh clone:
#   make lab    install into .venv (first time only) and open the course in JupyterLab
#   make test   install into .venv (first time only) and run every unit test and every notebook
VENV ?= .venv
PYTHON := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed-$(shell cksum < pyproject.toml | cut -d' ' -f1)

NOTEBOOKS ?= $(wildcard notebooks/*.ipynb)

.PHONY: lab test notebooks solutions site

$(INSTALLED): pyproject.toml
	python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $@

lab: $(INSTALLED)
	$(VENV)/bin/jupyter lab notebooks/00_setup.ipynb

test: $(INSTALLED)
	GENLEARN_BUDGET=smoke $(PYTHON) -m pytest --nbval --nbval-current-env -p no:cacheprovider notebooks tests

# For authors: re-run every notebook on the smoke budget, then keep only the outputs tagged keep_output.
notebooks: $(INSTALLED)
	for notebook in $(NOTEBOOKS); do \
	  GENLEARN_BUDGET=smoke $(VENV)/bin/jupyter nbconvert --to notebook --execute --inplace "$$notebook" || exit 1; \
	done
	$(PYTHON) tests/notebook_outputs.py strip $(NOTEBOOKS)

# For instructors: every notebook with the reference solutions written in, into solutions/ (git-ignored).
solutions: $(INSTALLED)
	$(PYTHON) -m genlearn.exercises.solutions solutions

# The course as a static HTML site in build/site/: every notebook executed (shipped weights where offered, else the cpu preset).
site: $(INSTALLED)
	$(PYTHON) website/build.py
