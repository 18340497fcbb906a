# Every target creates the virtual environment on first use; its bin/ comes first on
# PATH because nbgrader runs `alembic` by name.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

# The full CIFAR-10 copy beside the project (decoded once into .cache/) when it exists;
# without it every notebook and test runs on the sample in utils/data/.
SHARED_CIFAR := ../shared/data/cifar10
CIFAR_CACHE := .cache/cifar10
ifneq ($(wildcard $(SHARED_CIFAR)/decode.py),)
export CIFAR10_ROOT := $(CURDIR)/$(CIFAR_CACHE)
CIFAR_TARGET := $(CIFAR_CACHE)/cifar-10-batches-py/test_batch
endif

.PHONY: help demo test release lab bench gpu-check test-browser clean

help:
	@echo "make demo          release, grade sample submissions, print the score table"
	@echo "make test          everything CI checks"
	@echo "make release       regenerate assignments/, solutions/ and dist/student-bundle.zip"
	@echo "make lab           JupyterLab on the assignments"
	@echo "make bench         benchmarks -> bench/results.json and bench/results.md"
	@echo "make gpu-check     sheets 3 and 4 on a CUDA GPU against the CPU, Zennit and Captum; GPU rows -> bench/results.json"
	@echo "make test-browser  the student flow in a real browser"

$(STAMP): requirements.txt requirements-test.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-test.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

$(CIFAR_CACHE)/cifar-10-batches-py/test_batch:
	$(PY) $(SHARED_CIFAR)/decode.py $(CIFAR_CACHE)

release: $(STAMP)
	$(PY) -m autograder release

demo: $(STAMP) $(CIFAR_TARGET)
	bash autograder/engine/install-bubblewrap.sh
	$(PY) -m autograder demo

test: $(STAMP) $(CIFAR_TARGET)
	bash autograder/engine/install-bubblewrap.sh
	bash tests/browser/install.sh
	bash tests/services/install.sh
	COURSE_REQUIRE_BROWSER=1 COURSE_REQUIRE_POSTGRES=1 $(PY) -m pytest -ra --durations=15 tests

test-browser: $(STAMP)
	bash autograder/engine/install-bubblewrap.sh
	bash tests/browser/install.sh
	bash tests/services/install.sh
	COURSE_REQUIRE_BROWSER=1 COURSE_REQUIRE_POSTGRES=1 $(PY) -m pytest -ra tests/browser

lab: $(STAMP)
	$(VENV)/bin/jupyter lab assignments/

bench: $(STAMP) $(CIFAR_TARGET)
	bash autograder/engine/install-bubblewrap.sh
	$(PY) -m bench

gpu-check: $(STAMP)
	$(PY) -m bench.gpu_check

clean:
	rm -rf grading demo dist .pytest_cache
