#!/usr/bin/env bash
# Configuring against an ngtcp2 older than 1.4 fails, and the message names the version found and
# the fix. pkg-config is pointed at a directory holding only .pc files of ngtcp2 0.12.1.
# Usage: old_ngtcp2_test.sh <source dir>
set -euo pipefail
src="$1"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/rpcnet-oldngtcp2.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/pc"
for name in libngtcp2 libngtcp2_crypto_gnutls; do
  printf '%s\n' "Name: $name" "Description: ngtcp2 as Debian bookworm ships it" "Version: 0.12.1" \
    "Libs: -l${name#lib}" "Cflags:" > "$tmp/pc/$name.pc"
done
if PKG_CONFIG_LIBDIR="$tmp/pc" PKG_CONFIG_PATH="" cmake -S "$src" -B "$tmp/build" \
    -DRPCNET_BUILD_TESTS=OFF -DRPCNET_BUILD_EXAMPLES=OFF >"$tmp/log" 2>&1; then
  echo "FAIL: configure succeeded against ngtcp2 0.12.1"
  exit 1
fi
for expected in "libngtcp2_crypto_gnutls >= 1.4 (found 0.12.1)" "scripts/install-deps.sh" \
                "bookworm-backports"; do
  if ! tr -s ' \n' ' ' <"$tmp/log" | grep -qF "$expected"; then
    echo "FAIL: the configure error does not say \"$expected\":"
    cat "$tmp/log"
    exit 1
  fi
done
echo "ok: configure refused ngtcp2 0.12.1 and named the fix"
