#!/usr/bin/python3
"""ICE connect time of aioice (Debian python3-aioice) on loopback, host
candidates only: the same measure as ice_connect_bench (from the start of
the checks until both sides are connected), for a same-run comparison.

Usage: /usr/bin/python3 bench/ice_connect_aioice.py [--runs N] [--out FILE]
"""
import argparse
import asyncio
import json
import statistics
import time

import aioice
import aioice.ice

# aioice never offers 127.0.0.1; make it gather exactly the loopback host
# candidate the peerlink run uses, so both measure the same path.
aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]


async def one_run():
    a = aioice.Connection(ice_controlling=True, components=1, use_ipv4=True, use_ipv6=False)
    b = aioice.Connection(ice_controlling=False, components=1, use_ipv4=True, use_ipv6=False)
    await asyncio.gather(a.gather_candidates(), b.gather_candidates())
    for src, dst in ((a, b), (b, a)):
        dst.remote_username = src.local_username
        dst.remote_password = src.local_password
        for c in src.local_candidates:
            await dst.add_remote_candidate(c)
        await dst.add_remote_candidate(None)
    start = time.perf_counter()
    await asyncio.wait_for(asyncio.gather(a.connect(), b.connect()), 10)
    elapsed = time.perf_counter() - start
    await a.close()
    await b.close()
    return elapsed * 1e6


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(p * (len(values) - 1) + 0.5))]


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--out")
    args = ap.parse_args()
    samples, failures = [], 0
    for _ in range(args.runs):
        try:
            samples.append(await one_run())
        except Exception as exc:  # noqa: BLE001 - a failed run is counted, not fatal
            print("aioice run failed:", repr(exc), file=__import__("sys").stderr)
            failures += 1
    if not samples:
        raise SystemExit("ice_connect_aioice: every run failed")
    result = {
        "name": "ice_connect_loopback_host",
        "stack": "aioice",
        "runs": args.runs,
        "failures": failures,
        "first_check_to_selected_us": {
            "median": round(statistics.median(samples), 1),
            "p99": round(percentile(samples, 0.99), 1),
            "max": round(max(samples), 1),
        },
    }
    line = json.dumps(result)
    print(line)
    if args.out:
        with open(args.out, "w") as f:
            f.write(line + "\n")


asyncio.run(main())
