#!/usr/bin/env bash
# The forum assignment's sample interaction (assignments.md 3.8) played by two scripted
# `chinwag` clients against a real `chinwag-server PORT destroyforum` on a free port:
# Yoda (one wrong password first), then Obi-wan signing up. Prints a readable transcript
# (each command, what the client printed, a tick or a cross) and then the server's side.
# Every client line is checked exactly, plus the thread file on disk, the downloaded
# file's bytes, SHT's wipe and every exit code. Exits 0 when all checks pass.
#
#   scripts/smoke_forum.sh                  debug build
#   PROFILE=release scripts/smoke_forum.sh  release build
#   BIG_MB=200 PROFILE=release scripts/smoke_forum.sh
#       also uploads and downloads a BIG_MB MiB random file through the real client,
#       printing both throughputs and the server's peak memory (VmHWM) during it.
set -u
cd "$(dirname "$0")/.."

PROFILE=${PROFILE:-debug}
BIG_MB=${BIG_MB:-0}
if [ "$PROFILE" = release ]; then
    cargo build --release --bins -q || exit 1
else
    cargo build --bins -q || exit 1
fi
BIN=$(cargo metadata --format-version 1 --no-deps 2>/dev/null |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')/$PROFILE
[ -x "$BIN/chinwag-server" ] || { echo "no binaries in $BIN"; exit 1; }

WORK=$(mktemp -d)
PIDS=()
cleanup() {
    exec 3>&- 4>&- 5>&- 6>&- 2>/dev/null
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

FAILS=0
if [ -t 1 ]; then GREEN=$'\033[32m' RED=$'\033[31m' PLAIN=$'\033[0m'; else GREEN= RED= PLAIN=; fi
ok() { printf '    %s✓%s %s\n' "$GREEN" "$PLAIN" "$1"; }
bad() { printf '    %s✗ %s%s\n' "$RED" "$1" "$PLAIN"; FAILS=$((FAILS + 1)); }
check() { if eval "$2"; then ok "$1"; else bad "$1"; fi; }

# Starts a server in $WORK/$1 with the remaining arguments; sets SPID and PORT.
start_server() {
    local dir=$WORK/$1; shift
    mkdir -p "$dir"
    "$BIN/chinwag-server" 0 "$@" --data-dir "$dir" >"$WORK/server.out" 2>&1 &
    SPID=$!
    PIDS+=("$SPID")
    for _ in $(seq 100); do
        PORT=$(sed -n '1s/^chinwag server listening on .*:\([0-9]*\)$/\1/p' "$WORK/server.out")
        [ -n "$PORT" ] && return 0
        sleep 0.05
    done
    echo "the server did not start:"; cat "$WORK/server.out"; exit 1
}

# Starts client number $1 in directory $2 (stdin: a FIFO on fd $1+2; stdout: a file).
start_client() {
    local n=$1 dir=$2
    mkdir -p "$dir"
    rm -f "$WORK/in$n" "$WORK/out$n"
    mkfifo "$WORK/in$n"
    (cd "$dir" && exec "$BIN/chinwag" 127.0.0.1 "$PORT" <"$WORK/in$n" >"$WORK/out$n" 2>&1) &
    CPID[$n]=$!
    PIDS+=("${CPID[$n]}")
    eval "exec $((n + 2))>\"$WORK/in$n\""
    SEEN[$n]=0
}

# The client's output so far, one line per prompt or message (prompts end without a
# newline, so they are split off and their trailing space dropped).
lines_of() {
    sed -E 's/(Username: |Password: |This is a new user\. Enter a password: )/\1\n/g' \
        "$WORK/out$1" | sed 's/ $//'
}

# step N WHO COMMAND EXPECTED...: types COMMAND into client N and checks that exactly the
# EXPECTED lines come next (waits up to 60 s for them).
step() {
    local n=$1 who=$2 cmd=$3; shift 3
    local want=("$@") got i
    printf '%-8s> %s\n' "$who" "$cmd"
    printf '%s\n' "$cmd" >&$((n + 2))
    for _ in $(seq 6000); do
        [ "$(lines_of "$n" | wc -l)" -ge $((SEEN[n] + ${#want[@]})) ] && break
        sleep 0.01
    done
    mapfile -t got < <(lines_of "$n" | tail -n +$((SEEN[n] + 1)) | head -n ${#want[@]})
    SEEN[$n]=$((SEEN[n] + ${#want[@]}))
    for i in "${!want[@]}"; do
        if [ "${got[i]-<nothing>}" = "${want[i]}" ]; then
            ok "${want[i]}"
        else
            bad "expected '${want[i]}', got '${got[i]-<nothing>}'"
        fi
    done
}

# Waits for client N to exit; checks its exit code.
exits() {
    local n=$1 want=$2 code
    eval "exec $((n + 2))>&-"
    wait "${CPID[$n]}"; code=$?
    check "client $n exited with $want" "[ $code = $want ]"
}

echo "== chinwag forum: the 20T3 sample interaction ($PROFILE build)"
mkdir -p "$WORK/srv"
printf 'Yoda jedi*knight\n' >"$WORK/srv/credentials.txt"
start_server srv destroyforum
echo "server: chinwag-server 0 destroyforum, listening on port $PORT"
head -c 300000 /dev/urandom >"$WORK/yoda-test.exe"
mkdir -p "$WORK/yoda" && cp "$WORK/yoda-test.exe" "$WORK/yoda/test.exe"

echo; echo "-- client 1 (working directory yoda/)"
start_client 1 "$WORK/yoda"
step 1 Yoda "Yoda" "Username:" "Password:"
step 1 Yoda "sdrfdfs12" "Invalid Password. Please try again" "Password:"
step 1 Yoda "jedi*knight" "Welcome to chinwag!"
step 1 Yoda "LST" "No threads to list"
step 1 Yoda "HELLO" "Error. Invalid command"
step 1 Yoda "CRT 3331" "Thread 3331 created"
step 1 Yoda "CRT 3331" "Thread 3331 exists"
step 1 Yoda "CRT 9331" "Thread 9331 created"
step 1 Yoda "LST 3331" "Incorrect syntax for LST"
step 1 Yoda "LST" "The list of active threads:" "3331" "9331"
step 1 Yoda "MSG 3331 Networks is awesome" "Message posted to 3331 thread"
step 1 Yoda "RDT" "Incorrect syntax for RDT"
step 1 Yoda "RDT 9331" "Thread 9331 is empty"
step 1 Yoda "RDT 3331" "1 Yoda: Networks is awesome"
step 1 Yoda "UPD 3331 test.exe" "test.exe uploaded to 3331 thread"
step 1 Yoda "RDT 3331" "1 Yoda: Networks is awesome" "Yoda uploaded test.exe"
step 1 Yoda "RMV 9331" "The thread has been removed"
step 1 Yoda "XIT" "Goodbye"
exits 1 0

echo; echo "-- client 2 (working directory obiwan/)"
start_client 2 "$WORK/obiwan"
step 2 Obi-wan "Obi-wan" "Username:" "This is a new user. Enter a password:"
step 2 Obi-wan "r2d2" "Welcome to chinwag!"
step 2 Obi-wan "CRT 9331" "Thread 9331 created"
step 2 Obi-wan "MSG 9331 Networks exam PWNED me" "Message posted to 9331 thread"
step 2 Obi-wan "MSG 3331 Networks exam PWNED me" "Message posted to 3331 thread"
step 2 Obi-wan "LST" "The list of active threads:" "3331" "9331"
step 2 Obi-wan "RDT 331" "Thread 331 does not exist"
step 2 Obi-wan "RDT 3331" "1 Yoda: Networks is awesome" "Yoda uploaded test.exe" \
    "2 Obi-wan: Networks exam PWNED me"
step 2 Obi-wan "DWN 9331 test.exe" "File does not exist in Thread 9331"
step 2 Obi-wan "DWN 3331 test.exe" "test.exe successfully downloaded"
check "obiwan/test.exe is byte-identical to Yoda's" \
    "cmp -s '$WORK/obiwan/test.exe' '$WORK/yoda-test.exe'"
step 2 Obi-wan "DWN 3331 test.exe" "Error. test.exe already exists locally"
step 2 Obi-wan "EDT 3331 1 I PWNED Networks exam" \
    "The message belongs to another user and cannot be edited"
step 2 Obi-wan "EDT 3331 2 I PWNED Networks exam" "The message has been edited"
step 2 Obi-wan "RMV 3331" "The thread was created by another user and cannot be removed"
step 2 Obi-wan "RMV 9331" "The thread has been removed"
step 2 Obi-wan "LST" "The list of active threads:" "3331"
expected=$'Yoda\n1 Yoda: Networks is awesome\nYoda uploaded test.exe\n2 Obi-wan: I PWNED Networks exam'
check "threads/3331 on disk: creator, numbered posts, upload line" \
    "[ \"\$(cat '$WORK/srv/threads/3331')\" = \"\$expected\" ]"
check "uploads/3331/test.exe kept by the server" \
    "cmp -s '$WORK/srv/uploads/3331/test.exe' '$WORK/yoda-test.exe'"
step 2 Obi-wan "SHT" "Incorrect syntax for SHT"
step 2 Obi-wan "SHT monkey" "Incorrect password"
step 2 Obi-wan "SHT destroyforum" "Goodbye. Server shutting down"
exits 2 0
wait "$SPID"; code=$?
check "server exited with 0" "[ $code = 0 ]"
check "SHT (forum form) wiped threads/ and uploads/" \
    "[ -z \"\$(ls -A '$WORK/srv/threads' '$WORK/srv/uploads' | grep -v ':$' | grep .)\" ]"
check "credentials.txt kept, with Obi-wan appended" \
    "grep -q '^Obi-wan ' '$WORK/srv/credentials.txt' && grep -qx 'Yoda jedi\*knight' '$WORK/srv/credentials.txt'"

echo; echo "-- the server's side"
sed 's/^/    | /' "$WORK/server.out"

if [ "$BIG_MB" -gt 0 ]; then
    echo; echo "== ${BIG_MB} MiB random file through UPD and DWN ($PROFILE build)"
    mkdir -p "$WORK/big"
    printf 'yoda wise\nleia hairbuns\n' >"$WORK/big/credentials.txt"
    start_server big
    mkdir -p "$WORK/up" "$WORK/down"
    head -c $((BIG_MB << 20)) /dev/urandom >"$WORK/up/big.bin"
    hwm() { sed -n 's/^VmHWM:[[:space:]]*//p' "/proc/$1/status"; }
    echo "server VmHWM before: $(hwm "$SPID")"
    start_client 3 "$WORK/up"
    step 3 yoda "yoda" "Username:" "Password:"
    step 3 yoda "wise" "Welcome to chinwag!"
    step 3 yoda "CRT big" "Thread big created"
    t0=$(date +%s.%N)
    step 3 yoda "UPD big big.bin" "big.bin uploaded to big thread"
    t1=$(date +%s.%N)
    up_hwm=$(hwm "${CPID[3]}")
    step 3 yoda "XIT" "Goodbye"
    exits 3 0
    start_client 4 "$WORK/down"
    step 4 leia "leia" "Username:" "Password:"
    step 4 leia "hairbuns" "Welcome to chinwag!"
    t2=$(date +%s.%N)
    step 4 leia "DWN big big.bin" "big.bin successfully downloaded"
    t3=$(date +%s.%N)
    echo "client VmHWM: uploader $up_hwm, downloader $(hwm "${CPID[4]}")"
    echo "server VmHWM after:  $(hwm "$SPID")  (pid $SPID, peak resident memory of its life)"
    awk -v mb="$BIG_MB" -v a="$t0" -v b="$t1" -v c="$t2" -v d="$t3" 'BEGIN {
        printf "UPD: %d MiB in %.2f s = %.0f MiB/s\nDWN: %d MiB in %.2f s = %.0f MiB/s\n",
            mb, b - a, mb / (b - a), mb, d - c, mb / (d - c) }'
    echo "(each includes the receiver's fsync of the whole file before it answers)"
    check "downloaded copy is byte-identical" "cmp -s '$WORK/up/big.bin' '$WORK/down/big.bin'"
    step 4 leia "XIT" "Goodbye"
    exits 4 0
fi

echo
if [ "$FAILS" -eq 0 ]; then
    echo "all checks passed"
    exit 0
fi
echo "$FAILS check(s) failed"
exit 1
