#!/usr/bin/env bash
# The standard benchmark set, end to end: builds release, installs ngircd if it is missing
# (Debian's package; the IRC side is skipped if that is impossible), runs every scenario
# against chinwag (and ngircd where the scenario has an IRC equivalent), prints each
# table, and finally the README table (bench-results/README-table.md).
#
# Usage: scripts/bench.sh            (results in bench-results/, which git ignores)
#        OUT=dir scripts/bench.sh
# Not part of `cargo test`. Takes a few minutes; run it on a quiet machine (the tables
# record the load average when each scenario started).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-bench-results}

cargo build --release --workspace || exit 1

if ! command -v ngircd >/dev/null 2>&1 && [ ! -x /usr/sbin/ngircd ]; then
    if command -v apt-get >/dev/null 2>&1; then
        echo "installing ngircd..."
        SUDO=""
        [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && SUDO="sudo"
        if ! { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq ngircd; } >/dev/null 2>&1; then
            echo "ngircd could not be installed: the IRC side will be skipped"
        fi
    else
        echo "no apt-get: ngircd not installed, the IRC side will be skipped"
    fi
fi
# The Debian package may start a system ngircd on 6667; the bench runs its own on a free port.

BENCH=target/release/chinwag-bench
rm -rf "$OUT"
mkdir -p "$OUT"
echo "machine: $(nproc) cores; load before: $(cut -d' ' -f1-3 /proc/loadavg)"

failed=0
run() {
    local name=$1
    shift
    if ! "$BENCH" --json "$OUT/$name.json" "$@"; then
        echo "scenario $name FAILED"
        failed=1
    fi
}

run logins-1000 logins --clients 1000
run logins-5000 logins --clients 5000
run fanout-1000 fanout --clients 1000 --rate 100 --secs 10
run dm dm --pairs 100 --rate 5 --secs 10 --background 800 --bg-rate 20
run room room --members 500 --rate 50 --secs 10
run idle-5000 idle --clients 5000
run udp-200 udp --size-mb 200

echo
echo "README table:"
"$BENCH" report --dir "$OUT" | tee "$OUT/README-table.md"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
exit $failed
