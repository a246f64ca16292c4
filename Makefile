# MarketGuard. Quick start: `make demo`, then `make test`.
# Every target installs what is missing first, and nothing when all is in place.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# libgl1 and libglib2.0-0: OpenCV, which rapidocr-onnxruntime (image OCR) needs, loads them.
# wrk: the load tool of the queue and feed latency benchmarks (bench/queue_latency.py).
# redis-server: the worker tests start one when no Redis answers on 127.0.0.1:6379.
SYSTEM_PACKAGES := chromium fonts-noto-cjk libgl1 libglib2.0-0 wrk redis-server

.PHONY: demo test eval bench lint system-deps install install-test clean help

help:
	@echo "make demo   - install what is missing, run one monitoring pass over the demo shop, serve the workspace"
	@echo "make test   - install what is missing (with test extras) and run the whole suite"
	@echo "make eval   - precision and recall of the rules on the labelled sets"
	@echo "make bench  - benchmarks (long; not part of the suite)"

demo: system-deps install
	$(BIN)/marketguard demo

test: system-deps install-test
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

# Precision and recall per rule on the demo ground truth and the hand-labelled set (tests/eval/).
eval: install
	$(BIN)/python -m marketguard.evaluate

bench: system-deps install-test
	$(BIN)/python -m bench

lint: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Debian's Chromium (Playwright's own browser download cannot work here) and CJK fonts
# (without them Chinese renders as empty boxes and a screenshot proves nothing).
system-deps:
	@missing=""; \
	for pkg in $(SYSTEM_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$pkg 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else \
	    echo "MarketGuard needs these Debian packages:$$missing" >&2; \
	    echo "Install them with: sudo apt-get install$$missing" >&2; \
	    exit 1; \
	  fi; \
	fi

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	@touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(BIN)/python -m pip install -q -e '.[test]'
	@touch $@

clean:
	rm -rf var .pytest_cache .ruff_cache build *.egg-info
