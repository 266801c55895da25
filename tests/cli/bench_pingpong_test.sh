#!/usr/bin/env bash
# `usnet bench pingpong --json` runs end to end: every setting has a usnet and a kernel
# round trip and a ratio, each the median of three rounds (the figures themselves are not judged here: benchmarks, not
# timed tests, hold the speed goals).
set -uo pipefail
usnet=$1
command -v python3 >/dev/null || { echo "SKIP: no python3"; exit 77; }
[ "$(id -u)" = 0 ] || { echo "SKIP: the kernel column needs a private network namespace (root)"; exit 77; }
# The per-call loop the README's table comes from runs under the shim (default world).
calls=$("$usnet" run -- "$(dirname "$usnet")/usnet-pingpong" calls 10.0.2.15 9999) || { echo "calls failed: $calls"; exit 1; }
echo "$calls"
grep -qE '^recv, nothing queued: [0-9.]+ ns$' <<<"$calls" && grep -qE '^sendto to itself \+ recv: [0-9.]+ ns$' <<<"$calls" ||
  { echo "calls printed no figures"; exit 1; }
out=$("$usnet" bench pingpong --json --seconds 0.05) || { echo "bench failed: $out"; exit 1; }
echo "$out"
python3 - "$out" <<'PY'
import json, sys
rows = json.loads(sys.argv[1])
settings = {(r["tool"], r["mode"]) for r in rows}
assert {("usnet-pingpong", m) for m in ("spinning", "blocking", "sleeping")} | {("shared memory", "spinning")} <= settings, settings
for r in rows:
    if r["tool"] == "sockperf" and "usnet_error" in r and "not installed" in r["usnet_error"]:
        continue
    for k in ("usnet_rtt_ns", "kernel_rtt_ns", "ratio", "usnet_p99_ns", "kernel_mean_ns"):
        assert isinstance(r[k], (int, float)) and r[k] > 0, (r, k)
    assert abs(r["ratio"] - r["usnet_rtt_ns"] / r["kernel_rtt_ns"]) < 0.01, r
    # The settings take turns over three rounds; each figure is the median of the rounds'.
    for side in ("usnet", "kernel"):
        rounds = r[side + "_rounds_ns"]
        assert len(rounds) == 3 and all(isinstance(x, (int, float)) for x in rounds), (r, side)
        assert r[side + "_rtt_ns"] == sorted(rounds)[1], (r, side)
# Paired: the floor measured in the same processes, and the stacks' share beside it.
paired = [r for r in rows if (r["tool"], r["mode"]) == ("usnet-pingpong", "paired")]
assert len(paired) == 1, settings
p = paired[0]
assert isinstance(p["floor_rtt_ns"], (int, float)) and 0 < p["floor_rtt_ns"], p
assert abs(p["share_ns"] - (p["usnet_rtt_ns"] - p["floor_rtt_ns"])) < 1.5, p
print("ok:", len(rows), "settings")
PY
