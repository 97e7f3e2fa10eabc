#!/usr/bin/env bash
# Installs the Debian packages rpcnet needs, and only those that are missing (idempotent).
# Runs as root on the CI machine; elsewhere it uses sudo when available.
set -euo pipefail

packages=(
  build-essential cmake pkg-config make
  libngtcp2-dev libngtcp2-crypto-gnutls-dev libgnutls28-dev
  libasio-dev libcli11-dev
  libprotobuf-dev libprotoc-dev protobuf-compiler
  libgtest-dev libgmock-dev googletest libbenchmark-dev
  libgrpc++-dev protobuf-compiler-grpc
  clang libclang-rt-14-dev
  iproute2 nftables procps
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
if ! $SUDO apt-get install -y --no-install-recommends "${missing[@]}"; then
  $SUDO apt-get update
  $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
fi
