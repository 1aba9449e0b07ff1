#!/usr/bin/env bash
# Renders every portal page ROUNDS times, four requests at a time, as the demo operator, against
# a running Meterbook (BASE_URL), and counts the answers by status; `000` is a render that did not
# finish within 10 s. Used to re-test Leptos's streaming stall (BENCHMARKS.md).
#   BASE_URL=http://127.0.0.1:3000 ROUNDS=200 end2end/bench/page-renders.sh
set -euo pipefail
base=${BASE_URL:-http://127.0.0.1:3000}
rounds=${ROUNDS:-200}
jar=$(mktemp)
trap 'rm -f "$jar"' EXIT
curl -s -c "$jar" -o /dev/null -X POST \
  -d "username=operator&password=meterbook-demo&next=/" "$base/auth/sign-in"
for _ in $(seq 1 "$rounds"); do
  for page in / "/usage?period=last-7-days" /costs /tokens /widgets /people /audit; do
    for _ in 1 2 3 4; do
      curl -s -b "$jar" -o /dev/null -m 10 -w "%{http_code}\n" "$base$page" &
    done
    wait
  done
done | sort | uniq -c
