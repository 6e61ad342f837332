# Two targets do everything on a fresh machine: `make run` and `make test`.
# Set-up is the first prerequisite of both: a virtual environment in .venv with the
# tested versions from constraints.txt (torch first, so pip takes the CPU build).
VENV ?= .venv
PY := $(VENV)/bin/python
SCENARIO ?= scenarios/isolation.toml
PYTEST_ARGS ?=

.PHONY: setup run test lint clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt torch
	$(PY) -m pip install --quiet -c constraints.txt -e '.[all,test]'
	touch $@

run: setup
	$(VENV)/bin/society run $(SCENARIO) --report --out runs/$(notdir $(basename $(SCENARIO)))-$$(date +%Y%m%d-%H%M%S)

# pytest exits 5 when it collected no test; that is not a failure of the code.
test: setup
	$(VENV)/bin/ruff check society analysis tests
	$(VENV)/bin/pytest $(PYTEST_ARGS); rc=$$?; if [ $$rc -eq 5 ]; then rc=0; fi; exit $$rc

lint: setup
	$(VENV)/bin/ruff check society analysis tests
	$(VENV)/bin/ruff format --check society analysis tests

clean:
	rm -rf $(VENV) runs .pytest_cache
