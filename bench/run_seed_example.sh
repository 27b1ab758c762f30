#!/usr/bin/env bash
# The main job: sets up, builds and installs RocksQ, then runs the seed
# README's usage example and prints its time and throughput.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$repo/conan/bootstrap.sh" --install
cd "$repo"
python3 bench/seed_example.py
