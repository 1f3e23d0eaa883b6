#!/usr/bin/env bash
# A third-party server on our weights: llama.cpp's, through llama-cpp-python, with our `openai:` backend
# against it and the native engine as reference (direct and greedy cot, 100 CommonsenseQA dev questions).
# Usage (from the repository root, in the environment reasonkit is installed in):
#   benchmarks/studies/llama_cpp_server.sh [WORK_DIR] [PORT]
# Steps 1-2 compile llama.cpp (PyPI has only the sdist of llama-cpp-python for Linux x86-64 CPython 3.11
# here, no wheel); on 2 cores shared with other work this did not finish: see BENCHMARKS.md.
set -euo pipefail
WORK=${1:-runs/llama_cpp}
PORT=${2:-8011}
mkdir -p "$WORK"

# 1. the sdist (its vendor/llama.cpp also holds convert_hf_to_gguf.py and gguf-py)
pip download llama-cpp-python==0.3.36 --no-deps --no-binary :all: -d "$WORK"
tar -xzf "$WORK/llama_cpp_python-0.3.36.tar.gz" -C "$WORK"
LLAMA_CPP="$WORK/llama_cpp_python-0.3.36/vendor/llama.cpp"

# 2. build and install it with its server (cmake + a C/C++ compiler; 193 compile steps)
CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-1} pip install "$WORK/llama_cpp_python-0.3.36.tar.gz[server]"

# 3. our weights as a Hugging Face Llama checkpoint, then GGUF (checked tensor by tensor)
MODEL_DIR=$(python -c "from reasonkit.models import default_model_dir; print(default_model_dir())")
reasonkit export --model "$MODEL_DIR" --hf "$WORK/hf"
python -m reasonkit.benchmarks.studies.gguf_convert "$LLAMA_CPP" "$WORK/hf" "$WORK/model.gguf"

# 4. serve it: logits_all so that echo=true returns the prompt's log-probabilities (direct's scoring)
python -m llama_cpp.server --model "$WORK/model.gguf" --model_alias default --n_ctx 512 \
    --logits_all true --host 127.0.0.1 --port "$PORT" &
SERVER=$!
trap 'kill $SERVER' EXIT
until curl -sf "http://127.0.0.1:$PORT/v1/models" > /dev/null; do sleep 1; done

# 5. agreement with the native engine
python -m reasonkit.benchmarks.studies.backend_parity --model default \
    --against "openai:http://127.0.0.1:$PORT/v1?model=default" --questions 100 -s direct -s cot
