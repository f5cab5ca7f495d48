#!/usr/bin/env bash
# Installs the system tools the deploy tests need and pip cannot provide: Prometheus and promtool (Debian's
# `prometheus` package; tests/deploy runs a real Prometheus and `promtool check/test rules`). Idempotent: does nothing
# when promtool is already on PATH. hadolint and kubernetes-validate come with the `dev` extra (scripts/setup.sh).
# Needs root (or sudo) and apt-get; the package's own service is not started.
set -euo pipefail

if command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-ci-tools: no apt-get here; install Prometheus (prometheus and promtool on PATH) yourself" >&2
  exit 1
fi
sudo=()
if [ "$(id -u)" != 0 ]; then sudo=(sudo); fi

echo "install-ci-tools: installing prometheus (for promtool and a test Prometheus server)" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends prometheus >/dev/null
# A systemd host would start the packaged server on :9090; the tests run their own on a free port.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prometheus 2>/dev/null; then
  "${sudo[@]}" systemctl disable --now prometheus >/dev/null 2>&1 || true
fi
command -v promtool >/dev/null
