# Two commands do everything: `make demo` (the DVC pipeline on synthetic data -> HTML report)
# and `make test` (the test suite; `make test-fast` skips the slow tests). Both create .venv on first use.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export TF_ENABLE_ONEDNN_OPTS ?= 1
export TF_CPP_MIN_LOG_LEVEL ?= 2
export DVC_NO_ANALYTICS ?= 1
export PYTHONHASHSEED ?= 0

.PHONY: demo test test-fast install benchmarks clean

install: $(STAMP)

# the jax extra: tests/test_backend_portability.py re-runs the layer tests with KERAS_BACKEND=jax
$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -qq --upgrade pip
	$(BIN)/pip install -qq -e ".[test,jax]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/dranet demo

# Two pytest-xdist workers: most of the suite's wall time runs on one core (graph tracing,
# writing .keras files, interpreter start-up of the subprocess tests), so two use both cores.
# worksteal: the tests' durations range from milliseconds to a minute.
TEST_WORKERS ?= 2
PARALLEL := -n $(TEST_WORKERS) --dist worksteal --durations=15

# the JAX-backend test (tests/test_backend_portability.py) must run in CI, not skip
test: export DRANET_REQUIRE_JAX = 1
test: $(STAMP)
	$(BIN)/python -m pytest $(PARALLEL) $(PYTEST_ARGS)

# the inner loop: everything but @pytest.mark.slow (what trains, runs dvc repro, executes the
# notebooks or re-runs the layer tests under JAX)
test-fast: $(STAMP)
	$(BIN)/python -m pytest $(PARALLEL) -m "not slow" $(PYTEST_ARGS)

benchmarks: $(STAMP)
	$(BIN)/python benchmarks/model_step.py

clean:
	rm -rf $(VENV) .pytest_cache
