#!/usr/bin/env bash
# Smoke test of the messaging application: the 21T3 sample interaction (spec/assignments.md
# 1.10, steps 1 to 6; BEHAVIOUR.md 3.1) with scripted `chinwag` clients (hans, yoda, luke,
# and vader for whoelsesince) against a real `chinwag-server` on a free port. Prints a
# transcript a person can read (`hans> ...` is typed, `hans: ...` is printed by hans's
# client) and exits 0 when every check passes, 1 otherwise. Everything it started is
# killed on the way out.
#
# Usage: scripts/smoke_messaging.sh     (builds the debug binaries first)
set -uo pipefail

source "$(dirname "$0")/lib.sh"

# --- the server, on a port the OS picks ---------------------------------------------
mkdir -p "$tmp/data"
printf '%s\n' 'hans indiana#jones' 'yoda wise' 'luke lightsaber@#' 'vader sithlord$9' \
    >"$tmp/data/credentials.txt"
start_server "$tmp/data"
echo "== chinwag-server listening on port $port"

# --- scripted clients: stdin from a FIFO we keep open, stdout to a file ------------------

# find_next WHO LINE: byte offset just past the next whole line LINE in WHO's output
# (after what WHO was last seen printing), or nothing.
find_next() {
    local at
    at=$(tail -c +"$((off[$1] + 1))" "$tmp/$1.out" | grep -boxF -m 1 -- "$2" | head -n 1 | cut -d: -f1)
    [[ -n $at ]] && echo $((off[$1] + at + ${#2} + 1))
}

# silent WHO: WHO printed nothing since last checked (after a round trip).
silent() {
    local before=${off[$1]} extra
    sync_client "$1"
    extra=$(tail -c +"$((before + 1))" "$tmp/$1.out" | grep -vxF "Error. Invalid user")
    if [[ -z $extra ]]; then
        echo "($1 printed nothing)"
        ok
    else
        bad "$1 printed: $extra"
    fi
}

# exits_0 WHO: WHO's client has exited with status 0.
exits_0() {
    if wait "${pid[$1]}"; then
        echo "($1's client exited 0)"
        ok
    else
        bad "$1's client exited non-zero"
    fi
}

# login WHO PASSWORD: the login dialogue; the welcome ends the prompts' line.
login() {
    start_client "$1"
    printf '%s\n%s\n' "$1" "$2" >&"${fd[$1]}"
    echo "$1> $1"
    echo "$1> ********"
    expect "$1" "Username: Password: Welcome to chinwag!"
}

echo "== setup: hans, yoda and luke log in; no blocks"
login hans 'indiana#jones'
login yoda wise
expect hans "yoda logged in"
login luke 'lightsaber@#'
expect hans "luke logged in"
expect yoda "luke logged in"

echo "== step 1: whoelse and an unknown command"
say hans "whoelse"
expect_unordered hans "yoda" "luke"
say hans "whatsthetime"
expect hans "Error. Invalid command"

echo "== step 2: a direct message and an invalid user"
say hans "message yoda Hey Dude"
expect yoda "hans: Hey Dude"
say hans "message bob party time"
expect hans "Error. Invalid user"

echo "== step 3: broadcast"
say hans "broadcast vader is evil"
expect yoda "hans: vader is evil"
expect luke "hans: vader is evil"
silent hans

echo "== step 4: luke blocks hans"
say luke "block hans"
expect luke "hans is blocked"
say hans "broadcast I travel solo"
expect hans "Your message could not be delivered to some recipients"
expect yoda "hans: I travel solo"
silent luke
say hans "whoelse"
expect hans "yoda"
silent hans
say hans "message luke You angry?"
expect hans "Your message could not be delivered as the recipient has blocked you"
say hans "block hans"
expect hans "Error. Cannot block self"
say luke "unblock yoda"
expect luke "Error. yoda was not blocked"
say luke "unblock hans"
expect luke "hans is unblocked"
say hans "broadcast jedis are cool"
expect yoda "hans: jedis are cool"
expect luke "hans: jedis are cool"

echo "== step 5: whoelsesince (vader was on for a moment, like the worked example)"
login vader 'sithlord$9'
expect_unordered hans "vader logged in"
expect yoda "vader logged in"
expect luke "vader logged in"
say vader "logout"
expect vader "Goodbye, vader!"
exits_0 vader
expect hans "vader logged out"
expect yoda "vader logged out"
expect luke "vader logged out"
say luke "whoelsesince 200"
expect_unordered luke "hans" "yoda" "vader"
say luke "whoelse"
expect_unordered luke "hans" "yoda"
silent luke
say yoda "whoelsesince soon"
expect yoda "Error. Usage: whoelsesince <seconds>"

echo "== step 6: an offline message, delivered at luke's next login"
say luke "logout"
expect luke "Goodbye, luke!"
exits_0 luke
expect hans "luke logged out"
expect yoda "luke logged out"
say hans "message luke Let's rock"
expect hans "Message to luke stored for offline delivery"
login luke 'lightsaber@#'
expect luke "hans: Let's rock"
expect hans "luke logged in"
expect yoda "luke logged in"
say yoda "logout"
expect yoda "Goodbye, yoda!"
exits_0 yoda
expect hans "yoda logged out"
expect luke "yoda logged out"

echo "== checks"
if (( $(grep -cxF "hans: Let's rock" "$tmp/luke.out") == 1 )); then
    echo "(luke got the offline message exactly once)"
    ok
else
    bad "luke got the offline message $(grep -cxF "hans: Let's rock" "$tmp/luke.out") times"
fi
if grep -qF "travel solo" "$tmp/luke.out"; then
    bad "luke saw a broadcast from hans while blocking him"
else
    echo "(luke never saw 'I travel solo')"
    ok
fi
say hans "logout"
expect hans "Goodbye, hans!"
say luke "logout"
expect luke "Goodbye, luke!"
exits_0 hans
exits_0 luke

echo "== $passed checks passed, $failed failed"
((failed == 0))
