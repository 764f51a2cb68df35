# Shared by the smoke scripts (source it, do not run it): builds the debug binaries, makes
# a scratch directory, and kills every process recorded in `pids` (and removes the scratch
# directory) on the way out, whatever happens. `start_server DATA_DIR [ARGS...]` starts
# `chinwag-server` on a port the OS picks and sets `port` from its first line,
# `chinwag server listening on 0.0.0.0:PORT`.
# shellcheck shell=bash

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
cargo build --quiet --bin chinwag --bin chinwag-server || exit 1
bin="${CARGO_TARGET_DIR:-$root/target}/debug"

tmp=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null
    done
    wait 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

start_server() {
    local data=$1
    shift
    "$bin/chinwag-server" 0 --data-dir "$data" "$@" >"$tmp/server.out" 2>&1 &
    pids+=($!)
    port=""
    for _ in $(seq 100); do
        port=$(head -n 1 "$tmp/server.out" | sed -n 's/^chinwag server listening on .*:\([0-9]*\)$/\1/p')
        [[ -n $port ]] && return 0
        sleep 0.1
    done
    echo "FAIL: the server did not start"
    cat "$tmp/server.out"
    exit 1
}
