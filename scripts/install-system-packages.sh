#!/usr/bin/env bash
# Installs the Debian packages named as arguments when any is missing (`make card-packages` names the card
# tests' packages). Idempotent: a no-op (no apt-get update) when everything is already installed. Run as root.
set -euo pipefail

if [ "$#" -eq 0 ]; then
    echo "usage: install-system-packages.sh PACKAGE..." >&2
    exit 2
fi

missing=()
for pkg in "$@"; do
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
