#!/usr/bin/env bash
# `usnet bench tap --json` runs end to end: every setting (usnet -> Linux and Linux ->
# usnet over a TAP, Linux -> Linux over a veth) at both sizes has a figure and a ratio to
# the veth figure (the figures themselves are not judged here: the benchmark holds the
# speed goals, not a timed test).
set -uo pipefail
usnet=$1
command -v python3 >/dev/null || { echo "SKIP: no python3"; exit 77; }
[ "$(id -u)" = 0 ] || { echo "SKIP: needs a private network namespace with a TAP and a veth (root)"; exit 77; }
[ -w /dev/net/tun ] || { echo "SKIP: no /dev/net/tun"; exit 77; }
out=$("$usnet" bench tap --json --seconds 0.1) || { echo "bench failed: $out"; exit 1; }
echo "$out"
python3 - "$out" <<'PY'
import json, sys
rows = json.loads(sys.argv[1])
want = {(s, n) for s in ("linux_to_linux_veth", "usnet_to_linux_tap", "usnet_to_linux_tap_csum_offload",
                         "linux_to_usnet_tap") for n in (64, 1472)}
got = {(r["setting"], r["size"]) for r in rows}
assert got == want, (got ^ want)
for r in rows:
    for k in ("pps", "veth_pps", "ratio"):
        assert isinstance(r[k], (int, float)) and r[k] > 0, (r, k)
    assert abs(r["ratio"] - r["pps"] / r["veth_pps"]) < 0.01, r
    veth = next(x for x in rows if x["setting"] == "linux_to_linux_veth" and x["size"] == r["size"])
    assert r["veth_pps"] == veth["pps"], (r, veth)
print("ok:", len(rows), "settings")
PY
