#!/usr/bin/env bash
# The smallest end-to-end check of chinwag: builds the binaries, starts `chinwag-server`
# on a port the OS picks (port 0; the port is read from its first line,
# `chinwag server listening on 0.0.0.0:PORT`), and drives two scripted `chinwag` clients
# through login, a presence notice and logout. Prints what it checked; exits 0 when every
# check passes, 1 otherwise. The server and clients are always killed on the way out.
#
# Usage: scripts/smoke.sh
set -uo pipefail

source "$(dirname "$0")/lib.sh"

check() { # check DESCRIPTION COMMAND...: runs COMMAND, counts and prints the result.
    local what=$1
    shift
    if "$@"; then
        passed=$((passed + 1))
        echo "ok   $what"
    else
        failed=$((failed + 1))
        echo "FAIL $what"
    fi
}

# --- the server ----------------------------------------------------------------------
mkdir -p "$tmp/data"
printf '%s\n' 'hans indiana#jones' 'yoda wise' >"$tmp/data/credentials.txt"
start_server "$tmp/data"
echo "== chinwag-server listening on port $port"

# --- two scripted clients: stdin from a FIFO kept open, stdout to a file ------------------
# (start_client and say come from lib.sh)
# printed WHO LINE: WHO's output has LINE as a whole line (prompts stripped), within 10 s.
printed() {
    local end=$((SECONDS + 10))
    while ((SECONDS < end)); do
        sed -E 's/^((Username|Password): )+//' "$tmp/$1.out" | grep -qxF -- "$2" && return 0
        sleep 0.05
    done
    return 1
}
exits_0() { wait "${pid[$1]}"; }

start_client hans
say hans hans
say hans 'indiana#jones'
check "hans is welcomed" printed hans "Welcome to chinwag!"
start_client yoda
say yoda yoda
say yoda wise
check "yoda is welcomed" printed yoda "Welcome to chinwag!"
check "hans sees 'yoda logged in'" printed hans "yoda logged in"
say yoda logout
check "yoda sees 'Goodbye, yoda!'" printed yoda "Goodbye, yoda!"
check "yoda's client exits 0" exits_0 yoda
check "hans sees 'yoda logged out'" printed hans "yoda logged out"
say hans logout
check "hans sees 'Goodbye, hans!'" printed hans "Goodbye, hans!"
check "hans's client exits 0" exits_0 hans
check "the server printed yoda's login" grep -q '^yoda logged in from 127.0.0.1:' "$tmp/server.out"

echo "== $passed checks passed, $failed failed"
((failed == 0))
