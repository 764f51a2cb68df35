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

# --- checks: `ok` and `bad REASON` count into passed / failed ---------------------------
passed=0
failed=0
ok() { passed=$((passed + 1)); }
bad() {
    failed=$((failed + 1))
    echo "FAIL: $*"
}

# --- scripted clients: stdin from a FIFO kept open, stdout appended to $tmp/WHO.out ------
# `expect` and its friends call `find_next WHO TEXT`, which each script defines (whole
# lines or substrings), returning the byte offset just past the next TEXT in WHO's output.
declare -A fd pid off
start_client() {
    local who=$1
    rm -f "$tmp/$who.in"
    mkfifo "$tmp/$who.in"
    "$bin/chinwag" "$port" <"$tmp/$who.in" >>"$tmp/$who.out" 2>&1 &
    pid[$who]=$!
    pids+=($!)
    exec {fd[$who]}>"$tmp/$who.in"
    off[$who]=${off[$who]:-0}
}

# say WHO LINE: WHO types LINE.
say() {
    printf '%s\n' "$2" >&"${fd[$1]}"
    echo "$1> $2"
}

# expect WHO LINE: waits (10 s at most) for WHO to print LINE.
expect() {
    local end=$((SECONDS + 10)) at
    while ((SECONDS < end)); do
        at=$(find_next "$1" "$2")
        if [[ -n $at ]]; then
            off[$1]=$at
            echo "$1: $2"
            ok
            return 0
        fi
        sleep 0.05
    done
    bad "$1 never printed: $2"
    return 1
}

# expect_unordered WHO LINE...: every LINE, in any order.
expect_unordered() {
    local who=$1 start=${off[$1]} far=${off[$1]}
    shift
    for want in "$@"; do
        off[$who]=$start
        expect "$who" "$want"
        ((off[$who] > far)) && far=${off[$who]}
    done
    off[$who]=$far
}

# sync WHO: a server round trip, so everything queued for WHO has been printed.
sync_client() {
    printf '%s\n' "message nobody ping" >&"${fd[$1]}"
    local end=$((SECONDS + 10)) at
    while ((SECONDS < end)); do
        at=$(find_next "$1" "Error. Invalid user")
        [[ -n $at ]] && { off[$1]=$at; return 0; }
        sleep 0.05
    done
    bad "$1 did not answer"
}
