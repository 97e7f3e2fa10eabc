#!/usr/bin/env bash
# Installs the Debian packages rpcnet needs, and only those that are missing (idempotent).
# Runs as root on the CI machine; elsewhere it uses sudo when available.
#
# ngtcp2 must be >= 1.4: bookworm's own 0.12.1 aborts the process on a crafted packet sequence
# (doc/architecture.md, "Upstream fixes we depend on"). On bookworm it therefore comes from the
# official bookworm-backports suite: this script adds that suite's sources entry when no sources
# file names it yet, and installs the two ngtcp2 packages from it with `-t`. Backports keep
# Debian's default priority (100), so nothing else on the machine is upgraded from that suite.
set -euo pipefail

packages=(
  build-essential cmake pkg-config make
  libgnutls28-dev libnghttp2-dev
  libasio-dev libcli11-dev nlohmann-json3-dev
  libprotobuf-dev libprotoc-dev protobuf-compiler
  libgtest-dev libgmock-dev googletest libbenchmark-dev
  libgrpc++-dev protobuf-compiler-grpc
  clang libclang-rt-14-dev lld
  iproute2 nftables procps
  prometheus
)
# tshark: the decryption test (tests/integration/keylog_tshark_test.cc) checks our key log with
# the tool operators use. Its wireshark-common asks whether non-root users may capture: preseeded
# to "no" below, so the install never prompts.
packages+=(tshark)
# The gRPC-over-HTTP/2 interop tests (tests/interop) call rpcnet from a stock Python gRPC client.
packages+=(python3-grpcio python3-grpc-tools)
ngtcp2_packages=(libngtcp2-dev libngtcp2-crypto-gnutls-dev)
ngtcp2_minimum=1.4

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive

# Prints the installed version, or nothing. dpkg-query fails for a package it has never seen,
# which must not end the script (errexit + pipefail) on a fresh machine.
installed_version() {
  { dpkg-query -W -f='${Status}\t${Version}' "$1" 2>/dev/null || true; } |
    awk -F'\t' '$1 == "install ok installed" { print $2 }'
}

apt_install() {
  if ! $SUDO apt-get install -y --no-install-recommends "$@"; then
    $SUDO apt-get update
    $SUDO apt-get install -y --no-install-recommends "$@"
  fi
}

missing=()
for p in "${packages[@]}"; do
  [ -n "$(installed_version "$p")" ] || missing+=("$p")
done

ngtcp2_missing=()
for p in "${ngtcp2_packages[@]}"; do
  v="$(installed_version "$p")"
  if [ -z "$v" ] || ! dpkg --compare-versions "$v" ge "$ngtcp2_minimum"; then
    ngtcp2_missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ] && [ ${#ngtcp2_missing[@]} -eq 0 ]; then
  exit 0
fi

if [[ " ${missing[*]} " == *" tshark "* ]]; then
  echo "wireshark-common wireshark-common/install-setuid boolean false" |
    $SUDO debconf-set-selections
fi

if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  apt_install "${missing[@]}"
fi

if [ ${#ngtcp2_missing[@]} -gt 0 ]; then
  codename="$(. /etc/os-release && echo "${VERSION_CODENAME:-}")"
  if [ "$codename" = "bookworm" ]; then
    suite="bookworm-backports"
    # A sources entry naming the suite, in either the one-line or the deb822 format.
    if ! grep -qsE '^[^#]*\bbookworm-backports\b' /etc/apt/sources.list /etc/apt/sources.list.d/*; then
      echo "install-deps: enabling Debian's $suite suite (/etc/apt/sources.list.d/$suite.sources)"
      printf '%s\n' "Types: deb" "URIs: http://deb.debian.org/debian" "Suites: $suite" \
        "Components: main" "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg" |
        $SUDO tee "/etc/apt/sources.list.d/$suite.sources" >/dev/null
      $SUDO apt-get update
    fi
    echo "install-deps: installing ${ngtcp2_missing[*]} from $suite"
    apt_install -t "$suite" "${ngtcp2_packages[@]}"
  else
    # Newer Debian releases carry ngtcp2 >= 1.4 in their main archive.
    echo "install-deps: installing ${ngtcp2_missing[*]}"
    apt_install "${ngtcp2_packages[@]}"
  fi
fi
