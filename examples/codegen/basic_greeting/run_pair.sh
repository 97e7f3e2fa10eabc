#!/usr/bin/env bash
# basic_greeting as two processes, the way doc/codegen.md runs it:
#   rpcnet certs -> greeting_server (background) -> greeting_client (twice) -> SIGTERM the server
# Checks the greeting, the typed error for an empty name, and a clean shutdown (exit 0).
# Usage: run_pair.sh <rpcnet exe> <greeting_server exe> <greeting_client exe>
set -euo pipefail

if [[ $# -ne 3 ]]; then
  echo "usage: $0 <rpcnet> <greeting_server> <greeting_client>" >&2
  exit 2
fi
rpcnet=$1
server=$2
client=$3

work=$(mktemp -d "${TMPDIR:-/tmp}/rpcnet-typed-greeting-XXXXXX")
server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -KILL "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

"$rpcnet" certs --out "$work/certs" >"$work/certs.log"

"$server" --certs "$work/certs" --listen 127.0.0.1:0 >"$work/server.out" 2>"$work/server.err" &
server_pid=$!

# The server prints "listening on <addr>" once it serves; poll for it (at most 10 s).
address=""
for _ in $(seq 1 200); do
  if line=$(grep -m1 '^listening on ' "$work/server.out" 2>/dev/null); then
    address=${line#listening on }
    break
  fi
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.05
done
if [[ -z "$address" ]]; then
  echo "greeting_server did not report its address" >&2
  cat "$work/server.out" "$work/server.err" >&2 || true
  exit 1
fi
echo "server: listening on $address"

output=$("$client" --server "$address" --ca "$work/certs/ca.pem" --name rpcnet) || {
  echo "greeting_client failed" >&2
  exit 1
}
echo "client: $output"
if [[ "$output" != "Hello, rpcnet!" ]]; then
  echo "unexpected greeting: '$output'" >&2
  exit 1
fi

# An empty name: the handler's INVALID_ARGUMENT status reaches the client, which exits 1.
status=0
"$client" --server "$address" --ca "$work/certs/ca.pem" --name "" >"$work/empty.out" 2>"$work/empty.err" || status=$?
echo "client (empty name): exit $status: $(tail -n1 "$work/empty.err")"
if [[ $status -ne 1 ]] || ! grep -q 'INVALID_ARGUMENT' "$work/empty.err"; then
  echo "expected exit 1 with INVALID_ARGUMENT for an empty name" >&2
  cat "$work/empty.out" "$work/empty.err" >&2 || true
  exit 1
fi

# SIGTERM: graceful shutdown, exit 0 (at most 10 s).
kill -TERM "$server_pid"
for _ in $(seq 1 200); do
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.05
done
if kill -0 "$server_pid" 2>/dev/null; then
  echo "greeting_server did not exit after SIGTERM" >&2
  exit 1
fi
status=0
wait "$server_pid" || status=$?
server_pid=""
if [[ $status -ne 0 ]]; then
  echo "greeting_server exited with $status" >&2
  cat "$work/server.err" >&2 || true
  exit 1
fi
echo "ok"
