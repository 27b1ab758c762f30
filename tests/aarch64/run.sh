#!/usr/bin/env bash
# The aarch64 wheel, tested on aarch64: Debian's arm64 python3.11 run under
# qemu-aarch64-static (conan/aarch64_root.sh prepares both), with the wheel,
# pytest and numpy installed beside it, runs a smoke subset of the test suite.
#   bash tests/aarch64/run.sh [WHEEL]
# Without WHEEL it builds one (bash conan/build_wheel.sh --arch aarch64).
# Emulation is slow (about 20x): the subset covers each queue kind's core
# promises in about two minutes. Exits non-zero when a test fails.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
wheel="${1:-}"
if [ -z "$wheel" ]; then
  wheel="$(bash "$repo/conan/build_wheel.sh" --arch aarch64 | tail -n 1)"
fi
root="$(bash "$repo/conan/aarch64_root.sh" | tail -n 1)"

# pip installs for another platform into a folder of its own: the wheel
# (for its own tag) and the test tools (pure Python but numpy, whose aarch64
# wheel PyPI has).
site="$repo/build/aarch64-site"
wheel_platform="$(basename "$wheel" .whl)"
wheel_platform="${wheel_platform##*-}"
rm -rf "$site"
for requirement in "$wheel --platform $wheel_platform" \
                   "pytest>=7 numpy --platform manylinux2014_aarch64 --platform manylinux_2_28_aarch64"; do
  # shellcheck disable=SC2086 # a line of words, on purpose
  PIP_ROOT_USER_ACTION=ignore python3 -m pip install --quiet --disable-pip-version-check --target "$site" --upgrade \
    --python-version 3.11 --implementation cp --abi cp311 --only-binary=:all: $requirement
done

# Each line: a promise, and the tests that hold it.
smoke=(
  # FIFO order, and persistence across a reopen, in this process and a fresh one
  tests/fifo/test_fifo_order.py
  tests/fifo/test_persistence.py::test_items_len_and_payload_size_survive_reopen_in_a_fresh_process
  # capacity errors
  tests/fifo/test_capacity.py
  # threads
  tests/fifo/test_threads.py::test_concurrent_producers_and_consumers_deliver_every_item_once_in_producer_order
  tests/mpmc/test_mpmc_threads.py::test_concurrent_adds_reach_every_label_once_each_in_add_order
  # MPMC labels and expiry
  tests/mpmc/test_mpmc.py::test_a_label_at_oldest_reads_every_element_in_add_order
  tests/mpmc/test_mpmc.py::test_labels_at_different_speeds_read_independently
  tests/mpmc/test_mpmc_expiry.py::test_elements_expire_one_by_one_in_add_order
  tests/mpmc/test_mpmc_expiry.py::test_elements_expire_while_the_queue_is_closed
  # the ack queue's redelivery after a reopen
  tests/ack/test_ack_queue.py::test_reopen_redelivers_exactly_the_unacked_items
  # the seed's example, and what the build says it is
  tests/faces/test_seed_api.py::test_seed_readme_example_runs_unchanged
  tests/packaging/test_build_info.py
)

echo "== aarch64 smoke tests under qemu ($(basename "$wheel"))"
cd "$repo"
# Child interpreters the tests start run emulated too (tests/aarch64/emulated.py).
PYTHONPATH="$site:$repo/tests/aarch64" ROCKSQ_AARCH64_PYTHON="$root/python3.11" \
  "$root/python3.11" -m pytest -p emulated -p no:cacheprovider -q "${smoke[@]}"
