#!/usr/bin/env bash
# Install openvisor into .venv and run the guided demo.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install.sh
exec .venv/bin/ov demo "$@"
