#!/usr/bin/env bash
# Runs every benchmark in one go and reports JSON plus a Markdown summary with
# ratios against the other stacks measured in the same run.
#
#   bench/run.sh [BUILD_DIR]      (default: build; builds the bench targets first)
# Output: $BUILD_DIR/bench-results/{stun.json,ice_connect_peerlink.json,ice_connect_aioice.json,udp_recv.json,
#         udp_send.json,summary.md}
#         and sctp_*.json, dtls_sctp_*.json, sctp_dtls.json (SCTP / DTLS+SCTP data path, see below).
# SCTP_ONLY=1 runs only the SCTP and DTLS+SCTP part.
# SIGNALING_ONLY=1 runs only the signaling fan-out/memory part (signaling_fanout.json; SIGNALING_QUICK=1: --quick).
# E2E_ONLY=1 runs only issue 4's end-to-end scenarios T1-T4 against the other stacks
#   (bench/e2e/run_e2e.py; e2e.json and e2e.md; E2E_STACKS=peerlink,pion,... and
#   E2E_SCENARIOS=t1,t2,... narrow it). Needs root (network namespaces).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
runs=${BENCH_RUNS:-100}
out="$build/bench-results"
mkdir -p "$out"

if [ ! -f "$build/build.ninja" ]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
targets="stun_bench ice_connect_bench udp_recv_bench udp_send_bench sctp_bench dtls_sctp_bench"
targets="$targets signaling_fanout_bench"
[ -n "${SCTP_ONLY:-}" ] && targets="sctp_bench dtls_sctp_bench"
[ -n "${SIGNALING_ONLY:-}" ] && targets="signaling_fanout_bench"
[ -n "${E2E_ONLY:-}" ] && targets="e2e_peerlink"
[ -z "${SCTP_ONLY:-}" ] && [ -z "${SIGNALING_ONLY:-}" ] && targets="$targets e2e_peerlink pl_delayline"
ninja -C "$build" -j"${JOBS:-2}" $targets >/dev/null

echo "== machine" >&2
machine="$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(uname -r)"
echo "$machine" >&2

# --- End to end: T1-T4 for every stack in one run (bench/e2e/PROTOCOL.md, run_e2e.py) ------------
if [ -z "${SCTP_ONLY:-}" ] && [ -z "${SIGNALING_ONLY:-}" ]; then
  echo "== end-to-end scenarios T1-T4 (bench/e2e/run_e2e.py)" >&2
  e2e_status=0
  /usr/bin/python3 bench/e2e/run_e2e.py --build "$build" --out "$out" \
    ${E2E_STACKS:+--stacks "$E2E_STACKS"} ${E2E_SCENARIOS:+--scenarios "$E2E_SCENARIOS"} || e2e_status=$?
  [ -n "${E2E_ONLY:-}" ] && exit $e2e_status
fi

if [ -z "${SCTP_ONLY:-}" ] && [ -z "${SIGNALING_ONLY:-}" ]; then
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

echo "== UDP reads: recvmsg against recvmmsg (udp_recv_bench)" >&2
"$build/bench/udp_recv_bench" --out "$out/udp_recv.json" >/dev/null
echo "== UDP sends: sendmsg per destination against sendmmsg (udp_send_bench)" >&2
"$build/bench/udp_send_bench" --out "$out/udp_send.json" >/dev/null
/usr/bin/python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
lines = []
def table(header, rows):
    lines.extend(["", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)])
    lines.extend("| " + " | ".join(str(c) for c in row) + " |" for row in rows)
d = json.load(open(f"{out}/udp_recv.json"))
table(["UDP reads of a queued burst (1200 B)", "senders", "reads per call", "calls/datagram", "receiver CPU ns/datagram"],
      [["recvmmsg" if r["recv_batch"] > 1 else "recvmsg", r["senders"], r["recv_batch"],
        f"{r['calls_per_datagram']:.3f}", f"{r['cpu_ns_per_datagram']:.0f}"] for r in d["results"]])
for q in d["ratios"]:
    lines.append(f"\nFrom {q['senders']} sender(s): recvmsg costs {q['cpu_per_datagram_recvmsg_over_recvmmsg']:.2f}x "
                 "the CPU per datagram of recvmmsg.")
d = json.load(open(f"{out}/udp_send.json"))
table(["UDP sends of a burst (1200 B)", "destinations", "datagrams each", "calls/datagram", "sender CPU ns/datagram", "lost"],
      [["sendmmsg" if r["send_batch"] > 1 else "sendmsg", r["destinations"], r["per_destination"],
        f"{r['calls_per_datagram']:.3f}", f"{r['cpu_ns_per_datagram']:.0f}", r["sent"] - r["received"]] for r in d["results"]])
for q in d["ratios"]:
    lines.append(f"\nTo {q['destinations']} destination(s), {q['per_destination']} datagram(s) each: one sendmsg per "
                 f"destination costs {q['cpu_per_datagram_sendmsg_over_sendmmsg']:.2f}x the CPU per datagram of sendmmsg.")
text = "\n".join(lines)
open(f"{out}/summary.md", "a").write(text + "\n")
print(text)
PY
fi

# --- Signaling server: fan-out rate at p99 < 10 ms and RSS per connection ------------------------
# `peerlink signal` against y-webrtc's bin/server.js (tests/interop/ywebrtc, `npm ci` by
# scripts/install-deps.sh) under node; the bench starts and stops both. Full mode also opens
# 10,000 idle connections per server. JSON: signaling_fanout.json.
if [ -z "${SCTP_ONLY:-}" ]; then
sig_servers=peerlink,ywebrtc
if [ ! -f tests/interop/ywebrtc/node_modules/y-webrtc/bin/server.js ] || ! command -v node >/dev/null; then
  echo "y-webrtc or node missing (run scripts/install-deps.sh): measuring peerlink only" >&2
  sig_servers=peerlink
fi
sig_mode=--full; [ -n "${SIGNALING_QUICK:-}" ] && sig_mode=--quick
echo "== signaling fan-out and memory ($sig_mode, $sig_servers)" >&2
"$build/bench/signaling_fanout_bench" $sig_mode --servers "$sig_servers" --server-log "$out" \
  --out "$out/signaling_fanout.json" >&2
/usr/bin/python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
d = json.load(open(f"{out}/signaling_fanout.json"))
f = lambda v, fmt="{:.0f}": "-" if v is None else fmt.format(v)
lines = ["", f"Signaling fan-out ({d['mode']}): {d['clients']} WebSocket clients on loopback, rooms of "
         f"{d['room_size']}, {d['payload_bytes']}-byte publishes, {d['measure_s']} s per step after "
         f"{d['warmup_s']} s warm-up; pass = {d['pass_rule']}. Machine: {d['machine']}.", "",
         "| server | max sustained fan-out msgs/s | delivered/s | p50 us | p99 us | max us | lost | server CPU | "
         "deliveries per server CPU-s (median) | steps |",
         "|---|---|---|---|---|---|---|---|---|---|"]
for s in d["servers"]:
    a = s["at_max"] or {}
    ceil = " (search ceiling)" if s["search_ceiling_reached"] else ""
    lines.append(f"| {s['name']} | {f(s['max_sustained_fanout_per_s'])}{ceil} | {f(a.get('delivered_fanout_per_s'))} | "
                 f"{f(a.get('p50_us'))} | {f(a.get('p99_us'))} | {f(a.get('max_us'))} | {f(a.get('lost'))} | "
                 f"{f(a.get('server_cpu'), '{:.2f}')} | {f(s['median_fanout_per_server_cpu_s'])} | {len(s['steps'])} |")
lines += ["", "| server | idle connections | RSS before MB | RSS after MB | bytes/connection |", "|---|---|---|---|---|"]
for s in d["servers"]:
    for m in s["memory"]:
        lines.append(f"| {s['name']} | {m['subscribed']}/{m['connections']} | {m['rss_before_bytes']/1e6:.1f} | "
                     f"{m['rss_after_bytes']/1e6:.1f} | {m['bytes_per_connection']:.0f} |")
r = d["ratios"]
lines += ["", f"peerlink / y-webrtc: sustained fan-out {f(r['sustained_fanout_peerlink_over_ywebrtc'], '{:.1f}x')}, "
          f"bytes per connection {f(r['bytes_per_connection_peerlink_over_ywebrtc'], '{:.2f}x')}, "
          f"deliveries per server CPU-second {f(r['fanout_per_server_cpu_s_peerlink_over_ywebrtc'], '{:.1f}x')}."]
for t in d["targets"]:
    lines.append(f"Target ({t['target']}): {t['status'].upper() if t['status'] == 'missed' else t['status']}"
                 + (f" ({t['detail']})" if t["detail"] else "") + ".")
lines.append("Server command lines: " + "; ".join(f"`{s['command']}`" for s in d["servers"]))
text = "\n".join(lines)
open(f"{out}/summary.md", "a").write(text + "\n")
print(text)
PY
fi
[ -n "${SIGNALING_ONLY:-}" ] && exit 0

# --- SCTP and DTLS+SCTP data path, in memory, one core -------------------------------------------
# Each configuration runs 3 times and the median is reported (the machine may be shared; the JSON
# has wall-clock and CPU-time figures). Configurations:
#   dchecks on:  the build above (PEERLINK_DCHECKS=ON, IsConsistent after every call, as tests run)
#   dchecks off: $NODCHECKS_BUILD (default "$build-nodchecks"), PEERLINK_DCHECKS=OFF (production)
# each with glibc's default malloc and with GLIBC_TUNABLES raising the trim threshold, and once
# more with the default malloc and --no-message-pool: without sctp::MessageBufferPool glibc
# returns the heap top to the kernel after nearly every 64 KiB message and faults it back in
# (docs/sctp.md); the tuned malloc shows what is left of that with the pool.
prod="${NODCHECKS_BUILD:-$build-nodchecks}"
if [ ! -f "$prod/build.ninja" ]; then
  cmake -S . -B "$prod" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPEERLINK_DCHECKS=OFF \
    -DPEERLINK_BUILD_TESTS=OFF >/dev/null
fi
ninja -C "$prod" -j"${JOBS:-2}" sctp_bench dtls_sctp_bench >/dev/null
tuned="glibc.malloc.trim_threshold=268435456:glibc.malloc.top_pad=16777216"
echo "== SCTP / DTLS+SCTP in memory (3 runs per configuration)" >&2
for cfg in dchecks nodchecks; do
  dir=$build; [ "$cfg" = nodchecks ] && dir=$prod
  for malloc in default tuned nopool; do
    envs=(env -u GLIBC_TUNABLES)
    [ "$malloc" = tuned ] && envs=(env "GLIBC_TUNABLES=$tuned")
    args=()
    [ "$malloc" = nopool ] && args=(--no-message-pool)
    for i in 1 2 3; do
      "${envs[@]}" "$dir/bench/sctp_bench" --in-memory-only "${args[@]}" --out "$out/sctp_${cfg}_${malloc}_$i.json" >/dev/null
      "${envs[@]}" "$dir/bench/dtls_sctp_bench" "${args[@]}" --out "$out/dtls_sctp_${cfg}_${malloc}_$i.json" >/dev/null
    done
  done
done
echo "== SCTP simulator table (deterministic, one run)" >&2
"$build/bench/sctp_bench" --out "$out/sctp_sim.json" >/dev/null
openssl_speed="$(openssl speed -evp aes-128-gcm -bytes 1024 -seconds 2 2>/dev/null | grep -i '^AES-128-GCM' || true)"

/usr/bin/python3 - "$out" "$openssl_speed" <<'PY'
import json, statistics, sys
out, speed = sys.argv[1], sys.argv[2]
rows, data = [], {"runs_per_configuration": 3, "openssl_speed_aes_128_gcm_1024": speed}
for cfg in ("dchecks", "nodchecks"):
    for variant in ("default", "tuned", "nopool"):
        malloc = "tuned" if variant == "tuned" else "default"
        pool = variant != "nopool"
        runs = [json.load(open(f"{out}/sctp_{cfg}_{variant}_{i}.json")) for i in (1, 2, 3)]
        druns = [json.load(open(f"{out}/dtls_sctp_{cfg}_{variant}_{i}.json")) for i in (1, 2, 3)]
        for k, first in enumerate(runs[0]["in_memory"]):
            med = lambda key: statistics.median(r["in_memory"][k][key] for r in runs)
            checksum = first["checksum"] + (", " + first["chunks"] if "chunks" in first else "")
            row = {"bench": "sctp pair", "dchecks": cfg == "dchecks", "malloc": malloc, "message_pool": pool,
                   "checksum": checksum,
                   "MB_per_s": med("MB_per_s"), "cpu_MB_per_s": med("cpu_MB_per_s"),
                   "ns_per_packet": med("ns_per_packet"), "allocs_per_packet": med("allocs_per_packet")}
            rows.append(row)
        d = [r["dtls_sctp_in_memory"][0] for r in druns]
        ok = all(x["ok"] for x in d)
        med = lambda key: statistics.median(x[key] for x in d)
        rows.append({"bench": "dtls+sctp pair", "dchecks": cfg == "dchecks", "malloc": malloc, "message_pool": pool,
                     "checksum": "zero (RFC 9653), " + d[0]["cipher"] + ("" if ok else " FAILED"),
                     "MB_per_s": med("MB_per_s"), "cpu_MB_per_s": med("cpu_MB_per_s"),
                     "ns_per_packet": med("ns_per_datagram"), "allocs_per_packet": med("allocs_per_datagram")})
data["in_memory_medians"] = rows
data["sim_100mbit"] = json.load(open(f"{out}/sctp_sim.json")).get("sim_100mbit", [])
json.dump(data, open(f"{out}/sctp_dtls.json", "w"), indent=1)
lines = ["", "SCTP data path in memory, 64 KiB messages, 1200-byte MTU, one core (median of 3 runs; CPU = process CPU time):",
         "", "| bench | DCHECKs | malloc | message pool | checksum, chunks / cipher | MB/s wall | MB/s CPU | CPU ns/packet | allocs/packet |",
         "|---|---|---|---|---|---|---|---|---|"]
for r in rows:
    lines.append(f"| {r['bench']} | {'on' if r['dchecks'] else 'off'} | {r['malloc']} | {'on' if r['message_pool'] else 'off'} | {r['checksum']} | "
                 f"{r['MB_per_s']:.0f} | {r['cpu_MB_per_s']:.0f} | {r['ns_per_packet']:.0f} | {r['allocs_per_packet']:.2f} |")
lines += ["", f"openssl speed -evp aes-128-gcm, 1024-byte blocks (1000s of bytes/s): {speed}", "",
          "| RTT ms | loss | goodput Mbit/s | rtx | fast rtx | T3 |", "|---|---|---|---|---|---|"]
for c in data["sim_100mbit"]:
    lines.append(f"| {c['rtt_ms']} | {c['loss']:.2f} | {c['goodput_mbit']:.1f} | {c['retransmissions']} | "
                 f"{c['fast_retransmits']} | {c['t3_expiries']} |")
text = "\n".join(lines)
open(f"{out}/summary.md", "a").write(text + "\n")
print(text)
PY
