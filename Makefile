# Two commands do all the set-up on a fresh machine:
#   make serve   build the site from content/ and serve it on http://127.0.0.1:8000 (PORT=8001 for
#                another port)
#   make test    lint, type-check and run every test (browser tests included)
# Where the default package index serves torch's CUDA build (several GB), name a CPU index:
#   make serve TORCH_INDEX=https://download.pytorch.org/whl/cpu
PY          ?= python3
VENV        := .venv
BIN         := $(VENV)/bin
STAMP       := $(VENV)/.installed
PORT        ?= 8000
TORCH_INDEX ?=
BUILD_ARGS  ?=
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: install serve build site-deps test check lint types browser-deps bench clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# the CPU build of torch first, so nothing pulls the CUDA packages
	$(BIN)/pip install --quiet torch==2.13.0 $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

serve: $(STAMP) site-deps
	$(BIN)/kb serve --port $(PORT)

# the published site is built this way too (.github/workflows/publish.yml)
build: $(STAMP) site-deps
	$(BIN)/kb build $(BUILD_ARGS)

# onnxruntime-web from npm, vendored into the site so its search ranks by meaning; without npm the
# site still builds, and its search matches words only (it says so).
site-deps:
	@if [ -d node_modules/onnxruntime-web ]; then :; \
	elif command -v npm >/dev/null; then npm ci --silent --no-audit --no-fund; \
	else echo "npm not found: the site's search will match words only (install Node.js and npm for search by meaning)"; fi

# Chromium and its driver from Debian, axe-core and onnxruntime-web (the site's search runtime)
# from npm: what the browser tests and the site's search by meaning need.
browser-deps:
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null; \
		else sudo apt-get update -qq && sudo apt-get install -y -qq chromium chromium-driver >/dev/null; fi; \
	fi
	@[ -d node_modules/axe-core ] && [ -d node_modules/onnxruntime-web ] || npm ci --silent --no-audit --no-fund

lint: $(STAMP)
	$(BIN)/ruff check kb tests bench
	$(BIN)/lint-imports --no-cache

types: $(STAMP)
	$(BIN)/mypy

test: $(STAMP) browser-deps lint types
	$(BIN)/pytest -n 2 --durations=10

bench: $(STAMP)
	$(BIN)/python bench/validate_bench.py

clean:
	rm -rf build .kb test-artifacts
