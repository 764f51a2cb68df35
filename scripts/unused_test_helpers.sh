#!/usr/bin/env bash
# Names the shared test helpers (tests/common, tests/tls_support) that no test binary
# uses. Each binary uses its own part of them, so they allow dead_code unless the
# `unused-test-helpers` feature is on; this builds every test with it and reports the
# items that every binary including the file flags as dead. Exit 1 if there are any.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --tests --features unused-test-helpers --message-format=json 2>/dev/null |
python3 -c '
import collections, glob, json, re, sys
dead = collections.defaultdict(set)  # (file, line, item) -> binaries flagging it
for line in sys.stdin:
    try:
        m = json.loads(line)
    except ValueError:
        continue
    msg = m.get("message") or {}
    if m.get("reason") != "compiler-message" or (msg.get("code") or {}).get("code") != "dead_code":
        continue
    for s in msg["spans"]:
        if s["is_primary"]:
            f = re.sub(r".*?tests/", "tests/", s["file_name"])
            dead[(f, s["line_start"], s["text"][0]["text"].strip())].add(m["target"]["name"])
users = collections.defaultdict(set)  # helper file -> binaries that include it
for t in glob.glob("tests/*.rs"):
    src, name = open(t).read(), t[len("tests/"):-len(".rs")]
    if "mod common;" in src:
        users["common"].add(name)
    if "mod tls_support;" in src:
        users["tls_support"].add(name)
users["redis"] = users["common"] | {"chinwag"}  # the lib unit tests include it too
found = 0
for (f, n, item), flagged in sorted(dead.items()):
    group = "tls_support" if "tls_support" in f else "redis" if "redis_server" in f else "common"
    if users[group] <= flagged:
        print(f"{f}:{n}: used by no test: {item}")
        found += 1
sys.exit(1 if found else 0)
'
