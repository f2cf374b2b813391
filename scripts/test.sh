#!/usr/bin/env bash
# Install everything the tests need, rebuild the firmware and run the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install.sh --test
make -C firmware
exec .venv/bin/python -m pytest -n 2 "$@"
