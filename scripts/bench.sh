#!/usr/bin/env bash
# The standard benchmark set, end to end: builds the release workspace, installs ngircd
# and InspIRCd if they are missing (Debian's packages; a peer that cannot be installed is
# skipped), runs every scenario against chinwag and the IRC servers where the scenario
# has an IRC equivalent, prints each table, writes JSON (and an SVG chart for latency
# scenarios) per scenario, and finally the README table (bench-results/README-table.md).
#
# Usage: scripts/bench.sh                   (results in bench-results/, which git ignores)
#        OUT=dir scripts/bench.sh
#        scripts/bench.sh --readme          (also replaces the README's table with this run)
# Not part of `cargo test`. Takes about 15 minutes; run it on a quiet machine (each
# table records the 1-minute load average when its scenario started, and flags a run
# where bench + server used 1.9 cores or more as machine-bound).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-bench-results}

cargo build --release --workspace || exit 1
# The build has just used every core, and the first scenario would measure that: wait
# (at most a minute) for the 1-minute load average to fall below 1.
for _ in $(seq 12); do
    awk '{ exit !($1 < 1.0) }' /proc/loadavg && break
    sleep 5
done

install_peer() { # package binary
    command -v "$2" >/dev/null 2>&1 || [ -x "/usr/sbin/$2" ] && return 0
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "no apt-get: $1 not installed, it will be skipped"
        return 0
    fi
    echo "installing $1..."
    local sudo=""
    [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && sudo="sudo"
    # The packages try to start a system daemon on 6667; the bench runs its own on a
    # free port, so a refused start is fine.
    if ! { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$1"; } >/dev/null 2>&1; then
        echo "$1 could not be installed: it will be skipped"
    fi
}
install_peer ngircd ngircd
install_peer inspircd inspircd

BENCH=target/release/chinwag-bench
rm -rf "$OUT"
mkdir -p "$OUT"
echo "machine: $(nproc) cores; load before: $(cut -d' ' -f1-3 /proc/loadavg)"

failed=0
run() {
    local name=$1
    shift
    echo "== $name (load $(cut -d' ' -f1 /proc/loadavg))"
    if ! "$BENCH" --json "$OUT/$name.json" "$@"; then
        echo "scenario $name FAILED"
        failed=1
    fi
}

# InspIRCd 3 completes a registration on its once-a-second timer, so at a window of 10
# it logs in 10 clients a second: it is measured at 1,000 logins and left out at 5,000
# (500 s) and at 14,000 idle clients.
run logins-1000 logins --clients 1000 --against all
# At once, ngircd's backlog of 10 overflows: the clients wait on SYN retries; 60 s caps it.
run logins-1000-at-once --login-timeout 60 logins --clients 1000 --at-once --against all
run logins-5000 logins --clients 5000 --against chinwag,ngircd
run fanout-100 fanout --clients 1000 --rate 100 --secs 10 --against all
run fanout-1000 fanout --clients 1000 --rate 1000 --secs 10 --against all
run blast-closed blast --clients 1000 --messages 10000 --in-flight 50 --against all
run blast-open blast --clients 1000 --messages 10000 --in-flight 0 --against all
run dm dm --pairs 100 --rate 5 --secs 10 --background 800 --bg-rate 20
run room room --members 500 --rate 50 --secs 10
run idle-5000 idle --clients 5000 --against all
run idle-14000 --login-timeout 150 idle --clients 14000 --against chinwag,ngircd
run udp-200 udp --size-mb 200
run forum-200 forum --size-mb 200

echo
echo "README table:"
"$BENCH" report --dir "$OUT" | tee "$OUT/README-table.md"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

# --readme: put the table between the README's markers.
if [ "${1:-}" = "--readme" ]; then
    awk -v table="$OUT/README-table.md" '
        /<!-- bench-table:start -->/ { print; while ((getline l < table) > 0) print l; skip = 1; next }
        /<!-- bench-table:end -->/ { skip = 0 }
        !skip { print }
    ' README.md > README.md.new && mv README.md.new README.md
    mkdir -p docs/bench
    cp "$OUT"/*.svg docs/bench/
    echo "README.md table replaced, charts copied to docs/bench/"
fi
exit $failed
