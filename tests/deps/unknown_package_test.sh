#!/usr/bin/env bash
# On a fresh machine the packages rpcnet needs are unknown to dpkg: install-deps.sh must treat
# them as missing and go on, not end under errexit + pipefail (it once did, in the ngtcp2 check,
# and `make demo` stopped before installing anything). The script's installed_version function
# is run in the same shell options the script uses, for a package no machine has and for bash.
# Usage: unknown_package_test.sh <source dir>
set -euo pipefail
src="$1"
definition="$(sed -n '/^installed_version() {$/,/^}$/p' "$src/scripts/install-deps.sh")"
if [ -z "$definition" ]; then
  echo "FAIL: installed_version() not found in scripts/install-deps.sh"
  exit 1
fi
eval "$definition"
unknown="$(installed_version rpcnet-no-such-package-anywhere)"
if [ -n "$unknown" ]; then
  echo "FAIL: a package dpkg has never seen reported as installed: '$unknown'"
  exit 1
fi
bash_version="$(installed_version bash)"
expected="$(dpkg-query -W -f='${Version}' bash)"
if [ "$bash_version" != "$expected" ]; then
  echo "FAIL: installed_version bash gave '$bash_version', dpkg says '$expected'"
  exit 1
fi
echo "ok: an unknown package is missing (empty), bash is $bash_version"
