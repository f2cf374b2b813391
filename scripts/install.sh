#!/usr/bin/env bash
# Install openvisor into .venv in this checkout, with gcc and libc6-dev (Debian packages)
# because the emulator compiles its native hooks with the host C compiler on first use.
# With --test, also install the Arm GNU toolchain, gdb-multiarch, mosquitto and the
# other Debian packages the tests use, and the Python test extras.
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[[ "${1:-}" == "--test" ]] && want_test=1

as_root() {
    if [[ $(id -u) == 0 ]]; then "$@"; else sudo "$@"; fi
}

# Install the Debian packages given as arguments that are not installed yet.
install_debian_packages() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if (( ${#missing[@]} )); then
        echo "Installing Debian packages: ${missing[*]}"
        as_root apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
    fi
}

packages=(gcc libc6-dev)
if [[ $want_test == 1 ]]; then
    packages+=(gcc-arm-none-eabi libnewlib-arm-none-eabi libstdc++-arm-none-eabi-newlib
               gdb-multiarch mosquitto make qemu-system-arm)
fi
install_debian_packages "${packages[@]}"

# Debian's python3 cannot create a virtual environment until python3-venv is installed.
if ! python3 -m venv .venv >/dev/null 2>&1; then
    echo "Installing Debian package python3-venv"
    rm -rf .venv
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv
    python3 -m venv .venv
fi
.venv/bin/pip install -q --upgrade pip
if [[ $want_test == 1 ]]; then
    .venv/bin/pip install -q -e '.[test]'
else
    .venv/bin/pip install -q -e .
fi
