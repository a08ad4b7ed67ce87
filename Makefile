# Set-up and checks. Both targets work on a fresh machine with a bare Python 3.11.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
JOBS ?= 2

.PHONY: demo test lint bench clean

# One pip run per target: `make test` on a fresh machine installs the samples' and the
# tests' extras together (a second run re-resolved and rebuilt the editable install).
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip >/dev/null
	$(PY) -m pip install -e '.[samples]'
	touch $@

$(VENV)/.installed-test: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip >/dev/null
	$(PY) -m pip install -e '.[samples,test]'
	touch $(VENV)/.installed $@

demo: $(VENV)/.installed
	MPLBACKEND=Agg $(PY) samples/mlp_regression.py --plot mlp_loss.png --export mlp_predictor.vmfb

test: $(VENV)/.installed-test
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -n $(JOBS) --dist loadfile --no-loadscope-reorder --durations=10 tests

lint: $(VENV)/.installed-test
	$(VENV)/bin/ruff check .

bench: $(VENV)/.installed-test
	$(PY) -m benchmarks

clean:
	rm -rf $(VENV) build *.egg-info
