#!/usr/bin/env bash
# Smoke test of peer-to-peer private chat: the 21T3 sample interaction (spec/assignments.md
# 1.7, BEHAVIOUR.md 3.4) with three scripted `chinwag` clients (hans, yoda, luke) against a
# real `chinwag-server` on a free port. Prints a readable transcript (`hans> ...` is typed,
# `hans: ...` is printed) and exits 0 when every check passes, 1 otherwise.
#
# Usage: scripts/smoke_private.sh     (builds the debug binaries first)
set -uo pipefail

source "$(dirname "$0")/lib.sh"

# --- the server, on a port the OS picks ---------------------------------------------
mkdir -p "$tmp/data"
printf '%s\n' 'hans indiana#jones' 'yoda wise' 'luke lightsaber@#' >"$tmp/data/credentials.txt"
start_server "$tmp/data"
echo "== chinwag-server listening on port $port"

# --- scripted clients: stdin from a FIFO we keep open, stdout to a file ------------------

# find WHO TEXT: byte offset just past the next TEXT in WHO's output, or nothing.
find_next() {
    local at
    at=$(tail -c +"$((off[$1] + 1))" "$tmp/$1.out" | grep -boF -m 1 -- "$2" | head -n 1 | cut -d: -f1)
    [[ -n $at ]] && echo $((off[$1] + at + ${#2}))
}

login() {
    start_client "$1"
    expect "$1" "Username: " >/dev/null
    say "$1" "$1" >/dev/null
    expect "$1" "Password: " >/dev/null
    say "$1" "$2" >/dev/null
    expect "$1" "Welcome to chinwag!"
}

echo "== login"
login hans 'indiana#jones'
login yoda wise
login luke 'lightsaber@#'

echo "== the 21T3 sample (assignments.md 1.7)"
say hans "private luke hey dude"
expect hans "Error. Private messaging to luke not enabled"
say hans "startprivate luke"
expect luke "hans would like to private message, enter y or n: "
say luke "y"
expect hans "luke accepts private messaging"
expect hans "Start private messaging with luke"
say hans "private luke hey dude"
expect luke "hans(private): hey dude"
say luke "private hans hello man"
expect hans "luke(private): hello man"
say hans "message yoda force is strong"
expect yoda "hans: force is strong"
say hans "message luke now via server"
expect luke "hans: now via server"
say hans "logout"
expect hans "Goodbye, hans!"
expect yoda "hans logged out"
expect_unordered luke "hans logged out" "Private messaging with hans ended as hans logged out"
if wait "${pid[hans]}"; then ok; else bad "hans's client exited non-zero"; fi

echo "== after the peer has gone"
say luke "private hans are you there"
expect luke "Error. hans is no longer available for private messaging"
say luke "startprivate hans"
expect luke "Error. hans is offline"

echo "== a decline, then stopprivate from the other side"
say luke "startprivate yoda"
expect yoda "luke would like to private message, enter y or n: "
say yoda "n"
expect luke "yoda declines private messaging"
say luke "private yoda hi"
expect luke "Error. Private messaging to yoda not enabled"
say luke "startprivate yoda"
expect yoda "luke would like to private message, enter y or n: "
say yoda "y"
expect luke "yoda accepts private messaging"
expect luke "Start private messaging with yoda"
say yoda "private luke the force is with you"
expect luke "yoda(private): the force is with you"
say yoda "stopprivate luke"
expect yoda "Private messaging with luke stopped"
expect luke "yoda stopped private messaging"
say luke "stopprivate yoda"
expect luke "Error. No private messaging session with yoda"

echo "== checks"
sync_client yoda
if grep -qF "(private): hey dude" "$tmp/yoda.out"; then
    bad "yoda saw hans and luke's private chat"
else
    echo "yoda never saw hans and luke's private chat"
    ok
fi
say luke "logout"
expect luke "Goodbye, luke!"
say yoda "logout"
expect yoda "Goodbye, yoda!"
for who in luke yoda; do
    if wait "${pid[$who]}"; then ok; else bad "$who's client exited non-zero"; fi
done

echo "== $passed checks passed, $failed failed"
((failed == 0))
