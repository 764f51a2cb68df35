#!/usr/bin/env bash
# Smoke test of TOOM (BEHAVIOUR.md 3.2 and 4; the tutor's checklist in assignments.md 2.8):
# two scripted `chinwag` clients, yoda and hans, do ATU, BCM, SRB, SRM, RDM and OUT against
# a real `chinwag-server` on a free port, and the server's files are checked.
# Prints a readable transcript (`yoda> ...` is typed, `yoda: ...` is printed, `file: ...`
# is a line of a server file) and exits 0 when every check passes, 1 otherwise.
#
# Usage: scripts/smoke_toom.sh     (builds the debug binaries first)
set -uo pipefail

source "$(dirname "$0")/lib.sh"

# --- the server, on a port the OS picks ---------------------------------------------
data="$tmp/data"
mkdir -p "$data"
printf '%s\n' 'hans indiana#jones' 'yoda wise' 'luke lightsaber@#' >"$data/credentials.txt"
start_server "$data"
echo "== chinwag-server listening on port $port, data in $data"

# --- scripted clients: stdin from a FIFO we keep open, stdout to a file ------------------

# expect_line WHO TEXT: waits (10 s at most) for a line containing TEXT after what WHO was
# last seen printing; prints the whole line and keeps it in $line.
line=""
expect_line() {
    local end=$((SECONDS + 10)) found
    while ((SECONDS < end)); do
        found=$(tail -c +"$((off[$1] + 1))" "$tmp/$1.out" | grep -boF -m 1 -- "$2" | head -n 1)
        if [[ -n $found ]]; then
            local at=$((off[$1] + ${found%%:*})) prefix=""
            # The whole line around the match (scripted prompts end without a newline).
            if [[ -n $(head -c "$at" "$tmp/$1.out" | tail -c 1) ]]; then
                prefix=$(head -c "$at" "$tmp/$1.out" | tail -n 1)
                prefix=${prefix#Username: }
                prefix=${prefix#Password: }
            fi
            line="$prefix$(tail -c +"$((at + 1))" "$tmp/$1.out" | head -n 1)"
            off[$1]=$((at + ${#2}))
            echo "$1: $line"
            ok
            return 0
        fi
        sleep 0.05
    done
    bad "$1 never printed: $2"
    line=""
    return 1
}

# check WHAT COND: a named yes/no check.
check() {
    if eval "$2"; then
        ok
    else
        bad "$1"
    fi
}

# show FILE: prints a server file, one line per row.
show() {
    local f="$data/$1"
    if [[ -f $f ]]; then
        while IFS= read -r row; do echo "$1: $row"; done <"$f"
    else
        echo "$1: (missing)"
    fi
}

login() {
    start_client "$1"
    expect_line "$1" "Username: " >/dev/null
    say "$1" "$1" >/dev/null
    expect_line "$1" "Password: " >/dev/null
    say "$1" "$2" >/dev/null
    expect_line "$1" "Welcome to chinwag!" >/dev/null
    echo "== $1 logged in"
}

# wait_exit WHO CODE: WHO's client exits with CODE within 10 s.
wait_exit() {
    local end=$((SECONDS + 10))
    while kill -0 "${pid[$1]}" 2>/dev/null && ((SECONDS < end)); do
        sleep 0.05
    done
    wait "${pid[$1]}" 2>/dev/null
    local code=$?
    check "$1's client exits $2 (got $code)" "[[ $code == $2 ]]"
    echo "== $1's client exited with $code"
}

time_re='[1-9][0-9]? (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [0-9]{4} [0-2][0-9]:[0-5][0-9]:[0-5][0-9]'

# --- ATU -----------------------------------------------------------------------------
login yoda wise
say yoda "ATU"
expect_line yoda "no other active user"
login hans 'indiana#jones'
expect_line yoda "hans logged in"
say yoda "ATU"
expect_line yoda "hans, 127.0.0.1, "
atu=$line
show userlog.txt
hans_row=$(grep '; hans; ' "$data/userlog.txt")
hans_since=$(cut -d';' -f2 <<<"$hans_row" | sed 's/^ //')
hans_udp=$(cut -d';' -f5 <<<"$hans_row" | sed 's/^ //')
check "ATU row matches userlog.txt" "[[ \"$atu\" == \"hans, 127.0.0.1, $hans_udp, active since $hans_since.\" ]]"
check "userlog.txt rows" "grep -Eq '^1; $time_re; yoda; 127\.0\.0\.1; [0-9]+$' '$data/userlog.txt' && grep -Eq '^2; $time_re; hans; 127\.0\.0\.1; [0-9]+$' '$data/userlog.txt'"

# --- BCM -----------------------------------------------------------------------------
say yoda "BCM  "
expect_line yoda "Error. Usage: BCM <message>"
say yoda "BCM Hello world! COMP3331"
expect_line yoda "Broadcast message, #1 broadcast at "
check "BCM confirmation" "grep -Eqx 'Broadcast message, #1 broadcast at $time_re\.' <<<\"\$line\""
expect_line hans "yoda: Hello world! COMP3331"
show messagelog.txt
check "messagelog.txt line" "grep -Eqx '1; $time_re; yoda; Hello world! COMP3331' '$data/messagelog.txt'"

# --- SRB -----------------------------------------------------------------------------
say yoda "SRB"
expect_line yoda "Error. Usage: SRB"
say yoda "SRB yoda"
expect_line yoda "Error. You cannot build a separate room with yourself only"
say yoda "SRB luke"
expect_line yoda "Error. luke is offline"
say yoda "SRB offlineuser"
expect_line yoda "Error. offlineuser does not exist"
say yoda "SRB hans"
expect_line yoda "Separate chat room has been created, room ID: 1, users in this room: yoda, hans"
expect_line hans "You have been added to separate room 1 by yoda (users: yoda, hans)"
say hans "SRB yoda"
expect_line hans "a separate room (ID: 1) already created for these users"

# --- SRM -----------------------------------------------------------------------------
say yoda "SRM"
expect_line yoda "Error. Usage: SRM"
say yoda "SRM x Hi, Hans"
expect_line yoda "Error. Room ID must be a number"
say yoda "SRM 2 Hi, Hans"
expect_line yoda "The separate room does not exist"
say yoda "SRM 1 Hi, Hans"
expect_line yoda "Separate room message, #1 issued at "
check "SRM confirmation" "grep -Eqx 'Separate room message, #1 issued at $time_re\.' <<<\"\$line\""
expect_line hans "room-1: yoda: Hi, Hans"
say hans "SRM 1 Hello; master"
expect_line hans "Separate room message, #2 issued at "
expect_line yoda "room-1: hans: Hello; master"
show SR_1_messagelog.txt
check "SR_1_messagelog.txt lines" "grep -Eqx '1; $time_re; yoda; Hi, Hans' '$data/SR_1_messagelog.txt' && grep -Eqx '2; $time_re; hans; Hello; master' '$data/SR_1_messagelog.txt'"

# --- RDM -----------------------------------------------------------------------------
say hans "RDM"
expect_line hans "Error. Usage: RDM"
say hans "RDM x 1 Jun 2022 21:39:00"
expect_line hans "Error. Message type must be b or s"
say hans "RDM b yesterday"
expect_line hans "Error. Invalid timestamp, use e.g. 1 Jun 2022 16:01:20"
say hans "RDM b 1 Jun 2022 21:39:00"
expect_line hans "Broadcast messages since 1 Jun 2022 21:39:00:"
expect_line hans "#1; yoda: Hello world! COMP3331 at "
say hans "RDM s 1 Jun 2033 21:39:00"
expect_line hans "no new message"
say hans "RDM s 01/06/2022 21:39:00"
expect_line hans "Messages in separate rooms since 1 Jun 2022 21:39:00:"
expect_line hans "room-1:"
expect_line hans "#1; yoda: Hi, Hans at "
expect_line hans "#2; hans: Hello; master at "

# --- OUT -----------------------------------------------------------------------------
say yoda "OUT"
expect_line yoda "Bye, yoda!"
wait_exit yoda 0
expect_line hans "yoda logged out"
show userlog.txt
check "userlog.txt renumbered after OUT" "[[ \$(wc -l <'$data/userlog.txt') == 1 ]] && grep -Eqx '1; $time_re; hans; 127\.0\.0\.1; $hans_udp' '$data/userlog.txt'"
check "messagelog.txt keeps yoda's message" "grep -q '; yoda; Hello world! COMP3331\$' '$data/messagelog.txt'"
say hans "ATU"
expect_line hans "no other active user"
say hans "OUT"
expect_line hans "Bye, hans!"
wait_exit hans 0
check "yoda never saw its own broadcast" "! grep -qx 'yoda: Hello world! COMP3331' '$tmp/yoda.out'"

echo "== $passed checks passed, $failed failed"
((failed == 0))
