# lime-explain: set-up, demo, tests and benchmarks. Every target creates what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
TEXT_MODELS := sample_models/bbc_rf.joblib sample_models/bbc_rf.skops sample_models/bbc_rf_leaky.joblib

TABULAR_MODELS := sample_models/breast_cancer_rf.joblib sample_models/breast_cancer_rf.skops \
	sample_models/penguins_lr.joblib sample_models/penguins_lr.skops

.PHONY: install install-browser sample-models demo test lint bench clean

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
		echo "not root or no apt-get: install chromium and chromium-driver to run the" \
			"browser tests (they are skipped without them)"; \
	fi

$(TEXT_MODELS) &: sample_models/build_text_model.py $(INSTALLED)
	$(BIN)/python sample_models/build_text_model.py

$(TABULAR_MODELS) &: sample_models/build_tabular_models.py $(INSTALLED)
	$(BIN)/python sample_models/build_tabular_models.py

sample-models: $(TEXT_MODELS) $(TABULAR_MODELS)

demo: sample-models
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

test: sample-models lint install-browser
	$(BIN)/python -m pytest

bench: sample-models
	$(BIN)/python bench/bench_text.py
	$(BIN)/python bench/bench_image.py
	$(BIN)/python bench/bench_tabular.py
	$(BIN)/python bench/bench_memory.py
	$(BIN)/python bench/bench_report.py

clean:
	rm -rf $(VENV) $(TEXT_MODELS) $(TABULAR_MODELS) .pytest_cache .ruff_cache demo_out
