#!/usr/bin/env bash
# Installs the system tools the deploy tests need and pip cannot provide: Prometheus and promtool (Debian's
# `prometheus` package; tests/deploy runs a real Prometheus and `promtool check/test rules`), and a Docker engine with
# debootstrap (Debian's `docker.io` and `debootstrap`; tests/deploy/test_image.py makes a base image, builds the cpu
# image and runs it, with a dockerd of its own). Idempotent: does nothing when all of them are already installed. hadolint and kubernetes-validate come with the `dev` extra (scripts/setup.sh).
# Needs root (or sudo) and apt-get; the package's own service is not started.
set -euo pipefail

PATH="$PATH:/usr/sbin:/sbin"
packages=()
command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1 || packages+=(prometheus)
command -v dockerd >/dev/null 2>&1 && [ -x /usr/bin/docker ] || packages+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || packages+=(debootstrap)
if [ "${#packages[@]}" = 0 ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-ci-tools: no apt-get here; install these Debian packages' tools yourself: ${packages[*]}" >&2
  exit 1
fi
sudo=()
if [ "$(id -u)" != 0 ]; then sudo=(sudo); fi

echo "install-ci-tools: installing ${packages[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
# A systemd host would start the packaged Prometheus on :9090; the tests run their own on a free port. (A packaged
# dockerd may run: the image test starts its own, on a socket and data root of its own.)
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prometheus 2>/dev/null; then
  "${sudo[@]}" systemctl disable --now prometheus >/dev/null 2>&1 || true
fi
command -v promtool >/dev/null && command -v dockerd >/dev/null && command -v debootstrap >/dev/null
