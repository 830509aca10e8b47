# lime-explain: set-up, demo, tests and benchmarks. Every target creates what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
TEXT_MODELS := sample_models/bbc_rf.joblib sample_models/bbc_rf.skops sample_models/bbc_rf_leaky.joblib

TABULAR_MODELS := sample_models/breast_cancer_rf.joblib sample_models/breast_cancer_rf.skops \
	sample_models/penguins_lr.joblib sample_models/penguins_lr.skops

.PHONY: install sample-models demo test lint bench clean

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(INSTALLED)

install: $(INSTALLED)

$(TEXT_MODELS) &: sample_models/build_text_model.py $(INSTALLED)
	$(BIN)/python sample_models/build_text_model.py

$(TABULAR_MODELS) &: sample_models/build_tabular_models.py $(INSTALLED)
	$(BIN)/python sample_models/build_tabular_models.py

sample-models: $(TEXT_MODELS) $(TABULAR_MODELS)

demo: sample-models
	$(BIN)/lime-explain text --model sample_models/bbc_rf.joblib --seed 7 \
		--input sample_data/text/sports_506.txt
	mkdir -p demo_out
	$(BIN)/lime-explain image --model sample_models/efficientnet_lite0.onnx --seed 7 \
		sample_data/images/coffee.jpg --out demo_out/coffee_explanation.png \
		--heatmap demo_out/coffee_heatmap.png
	@echo "wrote demo_out/coffee_explanation.png and demo_out/coffee_heatmap.png"
	$(BIN)/lime-explain tabular --model sample_models/breast_cancer_rf.joblib --seed 7 \
		--train sample_data/tabular/breast_cancer_train.csv --target diagnosis \
		--row 0 sample_data/tabular/breast_cancer_test.csv
	$(BIN)/lime-explain tabular --model sample_models/penguins_lr.joblib --seed 7 \
		--train sample_data/tabular/penguins_train.csv --target species \
		--row 35 sample_data/tabular/penguins_test.csv
	@echo "A model that relies on an artefact word fails a CI check:"
	@$(BIN)/lime-explain text --model sample_models/bbc_rf_leaky.joblib --forbid posting \
		sample_data/text_leaky/tech_003_with_header.txt --seed 7 --quiet; \
		echo "exit code $$? (1: a check failed)"

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: sample-models lint
	$(BIN)/python -m pytest

bench: sample-models
	$(BIN)/python bench/bench_text.py
	$(BIN)/python bench/bench_image.py
	$(BIN)/python bench/bench_tabular.py
	$(BIN)/python bench/bench_memory.py
	$(BIN)/python bench/bench_trust.py all --quick

clean:
	rm -rf $(VENV) $(TEXT_MODELS) $(TABULAR_MODELS) .pytest_cache .ruff_cache demo_out
