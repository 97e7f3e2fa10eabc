#!/usr/bin/env bash
# The greeting example as two processes, the way a user runs it:
#   rpcnet certs  ->  greeting_server --once (background)  ->  greeting_client
# Usage: greeting_pair.sh <rpcnet exe> <greeting_server exe> <greeting_client exe>
set -euo pipefail

if [[ $# -ne 3 ]]; then
  echo "usage: $0 <rpcnet> <greeting_server> <greeting_client>" >&2
  exit 2
fi
rpcnet=$1
server=$2
client=$3

work=$(mktemp -d "${TMPDIR:-/tmp}/rpcnet-greeting-XXXXXX")
server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

"$rpcnet" certs --out "$work/certs" >"$work/certs.log"

"$server" --certs "$work/certs" --listen 127.0.0.1:0 --once >"$work/server.out" 2>"$work/server.err" &
server_pid=$!

# The server prints "listening on <addr>" once bound; poll for it (at most 10 s).
address=""
for _ in $(seq 1 200); do
  if line=$(grep -m1 '^listening on ' "$work/server.out" 2>/dev/null); then
    address=${line#listening on }
    break
  fi
  if ! kill -0 "$server_pid" 2>/dev/null; then
    break
  fi
  sleep 0.05
done
if [[ -z "$address" ]]; then
  echo "greeting_server did not report its address" >&2
  cat "$work/server.out" "$work/server.err" >&2 || true
  exit 1
fi
echo "server: listening on $address"

output=$("$client" --server "$address" --ca "$work/certs/ca.pem" --name rpcnet) || {
  echo "greeting_client failed (exit $?)" >&2
  exit 1
}
echo "client: $output"
if [[ "$output" != "Hello, rpcnet!" ]]; then
  echo "unexpected greeting: '$output'" >&2
  exit 1
fi

# --once: the server exits by itself after the call; give it at most 10 s.
for _ in $(seq 1 200); do
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.05
done
if kill -0 "$server_pid" 2>/dev/null; then
  echo "greeting_server --once did not exit after the call" >&2
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
