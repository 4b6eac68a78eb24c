#!/usr/bin/env bash
# Installs the Debian packages the card tests need (pcscd + vpcd for the virtual card on the real
# PC/SC stack; swig + libpcsclite-dev to build pyscard; pcsc-tools for pcsc_scan when debugging).
# Idempotent: a no-op (no apt-get update) when everything is already installed. Run as root.
set -euo pipefail

packages=(pcscd vsmartcard-vpcd swig libpcsclite-dev pcsc-tools)
missing=()
for pkg in "${packages[@]}"; do
    if ! dpkg -s "$pkg" 2>/dev/null | grep -q '^Status: install ok installed'; then
        missing+=("$pkg")
    fi
done

if [ "${#missing[@]}" -eq 0 ]; then
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "install-system-packages: missing ${missing[*]}; run as root to install them" >&2
    exit 1
fi

echo "install-system-packages: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
