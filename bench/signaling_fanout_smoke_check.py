#!/usr/bin/env python3
"""Checks a `signaling_fanout_bench --smoke` JSON file: it parses, our server ran, every step
delivered something and nothing was lost, duplicated or cut off, and the idle connections all
subscribed. (Latency is not asserted: the smoke run shares the machine with other tests.)"""
import json
import sys

d = json.load(open(sys.argv[1]))
s = [x for x in d["servers"] if x["name"] == "peerlink"]
assert len(s) == 1 and s[0]["started"], d["servers"]
steps = s[0]["steps"]
assert steps, "no fan-out step ran"
for x in steps:
    assert x["setup_ok"] and x["received"] > 0, x
    assert x["lost"] == 0 and x["duplicates"] == 0 and x["stale"] == 0 and x["conn_errors"] == 0, x
    assert x["received"] == x["expected_deliveries"], x
mem = s[0]["memory"]
assert mem and all(m["subscribed"] == m["connections"] and m["rss_after_bytes"] > 0 for m in mem), mem
print("ok:", steps[0]["delivered_fanout_per_s"], "deliveries/s, p99", steps[0]["p99_us"], "us")
