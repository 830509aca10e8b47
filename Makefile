# lime-explain: set-up, demo, tests and benchmarks. Every target creates what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
TEXT_MODELS := sample_models/bbc_rf.joblib sample_models/bbc_rf.skops sample_models/bbc_rf_leaky.joblib

TABULAR_MODELS := sample_models/breast_cancer_rf.joblib sample_models/breast_cancer_rf.skops \
	sample_models/penguins_lr.joblib sample_models/penguins_lr.skops

# Model servers for the HTTP tests, each in its own environment (their pins are
# theirs), with our scikit-learn and NumPy so they load the same sample pickles.
MLSERVER_VENV := .venv-mlserver
MLFLOW_VENV := .venv-mlflow
MLSERVER_PINS := mlserver==1.7.1 mlserver-sklearn==1.7.1
MLFLOW_PINS := mlflow==3.17.2
OUR_PINS = $$($(BIN)/python -c 'import numpy, sklearn; print(f"numpy=={numpy.__version__} scikit-learn=={sklearn.__version__}")')
MLFLOW_MODELS := sample_models/served/mlflow/.built

.PHONY: install install-browser sample-models servers demo test lint bench bench-http clean

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(INSTALLED)

install: $(INSTALLED)

# The browser tests drive Debian's chromium through chromium-driver (Playwright's
# own browser download is not reachable from the build machines). Installed with
# apt-get when run as root; otherwise the browser tests are reported as skipped.
install-browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then \
		echo "chromium and chromium-driver are installed"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			chromium chromium-driver >/dev/null; \
	else \
		echo "not root or no apt-get: install chromium and chromium-driver for the" \
			"browser tests (they fail without them; LIME_EXPLAIN_NO_BROWSER=1 skips them)"; \
	fi

$(TEXT_MODELS) &: sample_models/build_text_model.py $(INSTALLED)
	$(BIN)/python sample_models/build_text_model.py

$(TABULAR_MODELS) &: sample_models/build_tabular_models.py $(INSTALLED)
	$(BIN)/python sample_models/build_tabular_models.py

sample-models: $(TEXT_MODELS) $(TABULAR_MODELS)

$(MLSERVER_VENV)/.installed: $(INSTALLED)
	$(PYTHON) -m venv $(MLSERVER_VENV)
	$(MLSERVER_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(MLSERVER_VENV)/bin/python -m pip install --quiet $(MLSERVER_PINS) $(OUR_PINS)
	touch $@

$(MLFLOW_VENV)/.installed: $(INSTALLED)
	$(PYTHON) -m venv $(MLFLOW_VENV)
	$(MLFLOW_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(MLFLOW_VENV)/bin/python -m pip install --quiet $(MLFLOW_PINS) $(OUR_PINS)
	touch $@

$(MLFLOW_MODELS): sample_models/build_mlflow_models.py $(MLFLOW_VENV)/.installed \
		$(TEXT_MODELS) $(TABULAR_MODELS)
	$(MLFLOW_VENV)/bin/python sample_models/build_mlflow_models.py
	touch $@

# MLServer serves sample_models/served/mlserver (model-settings.json files, committed).
servers: $(MLSERVER_VENV)/.installed $(MLFLOW_MODELS)

demo: sample-models
	$(BIN)/lime-explain text --model sample_models/bbc_tokens.onnx \
		--tokenizer sample_models/bbc_tokens.tokenizer.json --seed 7 \
		sample_data/text/business_377.txt
	mkdir -p demo_out
	$(BIN)/lime-explain text --model sample_models/bbc_rf.joblib --seed 7 \
		--input sample_data/text/sports_506.txt \
		--out demo_out/text.json --out demo_out/text_chart.png
	$(BIN)/lime-explain image --model sample_models/efficientnet_lite0.onnx --seed 7 \
		sample_data/images/coffee.jpg --out demo_out/coffee_explanation.png \
		--heatmap demo_out/coffee_heatmap.png --out demo_out/coffee.json
	$(BIN)/lime-explain tabular --model sample_models/breast_cancer_rf.joblib --seed 7 \
		--train sample_data/tabular/breast_cancer_train.csv --target diagnosis \
		--row 0 sample_data/tabular/breast_cancer_test.csv \
		--out demo_out/breast_cancer.json --out demo_out/breast_cancer_chart.png
	$(BIN)/lime-explain tabular --model sample_models/penguins_lr.joblib --seed 7 \
		--train sample_data/tabular/penguins_train.csv --target species \
		--row 35 sample_data/tabular/penguins_test.csv \
		--out demo_out/penguins.json --out demo_out/penguins_chart.png
	$(BIN)/lime-explain render demo_out/text.json demo_out/coffee.json \
		demo_out/breast_cancer.json demo_out/penguins.json \
		--out demo_out/report.html --out demo_out/report.md --quiet
	@echo "wrote demo_out/report.html (open it in a browser), demo_out/report.md and"
	@echo "  demo_out/*.png (the coffee picture and heatmap, bar charts of the others)"
	@echo "A model that relies on an artefact word fails a CI check:"
	@$(BIN)/lime-explain text --model sample_models/bbc_rf_leaky.joblib --forbid posting \
		sample_data/text_leaky/tech_003_with_header.txt --seed 7 --quiet \
		--annotations github; \
		echo "exit code $$? (1: a check failed)"

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: sample-models servers lint install-browser
	$(BIN)/python -m pytest

bench: sample-models
	$(BIN)/python bench/bench_text.py
	$(BIN)/python bench/bench_onnx_text.py
	$(BIN)/python bench/bench_image.py
	$(BIN)/python bench/bench_tabular.py
	$(BIN)/python bench/bench_memory.py
	$(BIN)/python bench/bench_report.py
	$(BIN)/python bench/bench_trust.py all --quick

bench-http: sample-models servers
	$(BIN)/python bench/bench_http.py

clean:
	rm -rf $(VENV) $(MLSERVER_VENV) $(MLFLOW_VENV) sample_models/served/mlflow $(TEXT_MODELS) $(TABULAR_MODELS) .pytest_cache .ruff_cache demo_out
