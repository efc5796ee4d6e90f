#!/usr/bin/env bash
# Runs every benchmark in one go and reports JSON plus a Markdown summary with
# ratios against the other stacks measured in the same run.
#
#   bench/run.sh [BUILD_DIR]      (default: build; builds the bench targets first)
# Output: $BUILD_DIR/bench-results/{stun.json,ice_connect_peerlink.json,ice_connect_aioice.json,summary.md}
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
runs=${BENCH_RUNS:-100}
out="$build/bench-results"
mkdir -p "$out"

if [ ! -f "$build/build.ninja" ]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
ninja -C "$build" -j"${JOBS:-2}" stun_bench ice_connect_bench >/dev/null

echo "== machine" >&2
machine="$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(uname -r)"
echo "$machine" >&2

echo "== STUN codec" >&2
"$build/bench/stun_bench" --benchmark_min_time=0.5 --benchmark_format=json --benchmark_out="$out/stun.json" \
  --benchmark_out_format=json >/dev/null

echo "== ICE connect on loopback ($runs runs each)" >&2
"$build/bench/ice_connect_bench" --runs "$runs" --out "$out/ice_connect_peerlink.json" >/dev/null
/usr/bin/python3 bench/ice_connect_aioice.py --runs "$runs" --out "$out/ice_connect_aioice.json" >/dev/null

/usr/bin/python3 - "$out" "$machine" <<'PY'
import json, sys
out, machine = sys.argv[1], sys.argv[2]
stun = json.load(open(f"{out}/stun.json"))
ours = json.load(open(f"{out}/ice_connect_peerlink.json"))
aio = json.load(open(f"{out}/ice_connect_aioice.json"))
lines = [f"Machine: {machine}", "", "| STUN benchmark | ns/msg (CPU) | allocations/msg |", "|---|---|---|"]
for b in stun["benchmarks"]:
    lines.append(f"| {b['name']} | {b['cpu_time']:.0f} | {b.get('allocs_per_msg', 0):.0f} |")
lines += ["", "| ICE connect, loopback host candidates | median us | p99 us | max us | failures/runs |",
          "|---|---|---|---|---|"]
for r in (ours, aio):
    c = r["first_check_to_selected_us"]
    lines.append(f"| {r['stack']} | {c['median']:.0f} | {c['p99']:.0f} | {c['max']:.0f} | {r['failures']}/{r['runs']} |")
ratio_med = aio["first_check_to_selected_us"]["median"] / ours["first_check_to_selected_us"]["median"]
ratio_p99 = aio["first_check_to_selected_us"]["p99"] / ours["first_check_to_selected_us"]["p99"]
lines += ["", f"peerlink is {ratio_med:.1f}x faster than aioice at the median and {ratio_p99:.1f}x at p99."]
target_ok = ours["first_check_to_selected_us"]["median"] < 500
lines.append(f"Target (ICE a small fraction of a 2 ms data-channel connect; budget 500 us median): "
             f"{'met' if target_ok else 'MISSED'}.")
summary = "\n".join(lines)
open(f"{out}/summary.md", "w").write(summary + "\n")
json.dump({"machine": machine, "stun": stun["benchmarks"], "ice_connect": [ours, aio],
           "ratios": {"ice_connect_median_aioice_over_peerlink": ratio_med,
                      "ice_connect_p99_aioice_over_peerlink": ratio_p99}},
          open(f"{out}/all.json", "w"), indent=1)
print(summary)
PY
