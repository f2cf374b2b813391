#!/usr/bin/env bash
# Install openvisor into .venv in this checkout. With --test, also install the
# Arm GNU toolchain, gdb-multiarch and mosquitto (Debian packages) and the test extras.
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[[ "${1:-}" == "--test" ]] && want_test=1

if [[ $want_test == 1 ]]; then
    packages=(gcc-arm-none-eabi libnewlib-arm-none-eabi libstdc++-arm-none-eabi-newlib
              gdb-multiarch mosquitto make qemu-system-arm)
    missing=()
    for p in "${packages[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if (( ${#missing[@]} )); then
        sudo_cmd=()
        [[ $(id -u) != 0 ]] && sudo_cmd=(sudo)
        echo "Installing Debian packages: ${missing[*]}"
        "${sudo_cmd[@]}" apt-get update -qq
        DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}"
    fi
fi

python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip
if [[ $want_test == 1 ]]; then
    .venv/bin/pip install -q -e '.[test]'
else
    .venv/bin/pip install -q -e .
fi
