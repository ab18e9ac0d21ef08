#!/usr/bin/env bash
# Set up jaxlab in ./.venv: Chromium for the PNG graphs (Debian/Ubuntu, when apt is usable), the
# CPU build of PyTorch, then jaxlab with its test extra. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null && ! command -v google-chrome >/dev/null; then
  if command -v apt-get >/dev/null; then
    sudo=""; [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null && sudo="sudo"
    if [ "$(id -u)" -eq 0 ] || [ -n "$sudo" ]; then
      $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null \
        || echo "setup: could not install chromium: graphs will be HTML only until it is installed"
    fi
  else
    echo "setup: no Chrome/Chromium and no apt-get: graphs will be HTML only (install a Chromium for PNGs)"
  fi
fi

python3 -m venv .venv
# torch first: the pinned CPU wheel keeps pip from pulling the multi-GB CUDA build.
.venv/bin/pip install -q torch==2.13.0
.venv/bin/pip install -q -e ".[dev]"
