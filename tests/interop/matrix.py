#!/usr/bin/env python3
"""The interop matrix as a table, from a ctest JUnit report (ctest --output-junit FILE).

    matrix.py JUNIT.xml [--write docs/interop.md]

Rows: each foreign peer and our role. Columns: the cases issue 4 names. A cell is "pass" only if
the tests behind it ran and passed AND (for the Node harnesses) their output shows that case
was checked ("channel matrix" rows, the mDNS resolution line); "FAIL" if such a test failed;
"disabled" for a registered but disabled test; "-" where no test covers the case. Prints the
table (Markdown); --write also puts it into the file between the lines
"<!-- interop-matrix:begin -->" and "<!-- interop-matrix:end -->". Exit 0 unless the report
cannot be read (a failing cell is reported, not an error: the failing test already fails CI).
"""
import re
import sys
import xml.etree.ElementTree as ET

COLUMNS = ["echo", "unordered", "rexmit0", "lifetime", "negotiated", "10 channels", "max size", "close",
           "ICE restart", "mDNS"]
# Channel-matrix labels (tests/interop/common/echo_harness.mjs) per column.
MATRIX_LABELS = {"unordered": ["unordered"], "rexmit0": ["rexmit0"], "lifetime": ["lifetime100"],
                 "negotiated": ["negotiated"], "10 channels": [f"many-{i}" for i in range(10)]}
ROLES = {"offerer": "we offer", "answerer": "we answer"}


def load(path):
    root = ET.parse(path).getroot()
    tests = {}
    for case in root.iter("testcase"):
        name = case.get("name", "")
        status = case.get("status", "")
        failed = case.find("failure") is not None or case.find("error") is not None
        out = case.findtext("system-out") or ""
        if status == "disabled" or case.find("skipped") is not None:
            state = "disabled"
        else:
            state = "FAIL" if failed or status == "fail" else "pass"
        tests[name] = (state, out)
    return tests


def combine(states):
    states = [s for s in states if s]
    if not states:
        return "-"
    for worst in ("FAIL", "unverified", "ours only"):
        if worst in states:
            return worst
    if all(s == "disabled" for s in states):
        return "disabled"
    return "pass" if all(s == "pass" for s in states) else "FAIL"


def harness_cells(state, out, expect_max_size):
    """Cells of one harness test (browser, werift, aiortc) from its state and output. A passed
    test whose output does not show a case it runs gives "unverified" (e.g. output cut short:
    run ctest with --test-output-size-passed)."""
    cells = {c: None for c in COLUMNS}
    if state != "pass":
        return {c: state for c in COLUMNS if c not in ("mDNS", "ICE restart")}
    cells["echo"] = "pass" if re.search(r"\d+ messages echoed", out) else None
    rows = dict(re.findall(r"^\s*(\S+)\s+id\s+\d+\s+(\d+ echoes ok.*)$", out, re.M))
    for col, labels in MATRIX_LABELS.items():
        if all(lab in rows for lab in labels):
            cells[col] = "pass"
    if any("incl." in v for v in rows.values()):
        cells["max size"] = "pass"
    if "channel close: other side -> our peer" in out:
        cells["close"] = "pass"
    if "our peer resolved" in out:
        cells["mDNS"] = "pass"
    if "ice restart ok: by our peer" in out:
        # "ours only": our peer's restart was checked, not one started by the other peer.
        cells["ICE restart"] = "pass" if re.search(r"ice restart ok: by (browser|werift)", out) else "ours only"
    for col in COLUMNS:
        if cells[col] is None and col not in ("mDNS", "ICE restart") and (col != "max size" or expect_max_size):
            cells[col] = "unverified"
    return cells


def build(tests):
    rows = []
    node_peers = [("Chromium", r"interop\.chromium\.[^.]+\.peer_{role}$", True),
                  ("Firefox ESR", r"interop\.firefox\.[^.]+\.peer_{role}$", True),
                  ("werift", r"interop\.werift\.peer_{role}$", False),
                  ("libdatachannel", r"interop\.libdatachannel\.peer_{role}$", True)]
    for peer, pattern, expect_max_size in node_peers:
        for role, label in ROLES.items():
            names = [n for n in tests if re.search(pattern.format(role=role), n)]
            per_col = {c: [] for c in COLUMNS}
            for n in names:
                state, out = tests[n]
                for col, cell in harness_cells(state, out, expect_max_size).items():
                    per_col[col].append(cell)
            rows.append((peer, label, {c: combine(v) for c, v in per_col.items()}, len(names)))
    pion_cols = {"reliable": "echo", "unordered": "unordered", "rexmit0": "rexmit0", "lifetime100": "lifetime",
                 "negotiated": "negotiated", "icerestart": "ICE restart"}
    for role, label in ROLES.items():
        cells = {c: "-" for c in COLUMNS}
        count = 0
        # Every Pion case runs 10 channels at once with messages up to the largest size both
        # allow and closes them from both sides; those columns take all its cases' results,
        # each backed by the lines its output prints.
        many = {"10 channels": [], "max size": [], "close": []}
        for case, col in pion_cols.items():
            t = tests.get(f"pion_interop_{role}_{case}")
            if t:
                cells[col] = t[0]
                if col == "ICE restart" and t[0] == "pass" and not (
                        "ice restart ok: by our peer" in t[1] and "ice restart ok: by pion" in t[1]):
                    cells[col] = "unverified"
                count += 1
                state, out = t
                echo_seen = state != "pass" or re.search(r"echo ok: 10 channels x \d+ messages", out)
                close_seen = state != "pass" or "close ok: 10 channels closed on both sides" in out
                many["10 channels"].append(state if echo_seen else "unverified")
                many["max size"].append(state if echo_seen else "unverified")
                many["close"].append(state if close_seen else "unverified")
        for col, states in many.items():
            cells[col] = combine(states)
        rows.append(("Pion", label, cells, count))
    for role, label in ROLES.items():
        cells = {c: "-" for c in COLUMNS}
        t = tests.get(f"aiortc_interop_peer_{role}")
        if t:
            # The aiortc script prints the channel matrix in the Node harnesses' form.
            h = harness_cells(t[0], t[1], True)
            cells = {c: h.get(c) or "-" for c in COLUMNS}
        rows.append(("aiortc", label, cells, 1 if t else 0))
    return rows


def render(rows):
    lines = ["| peer | our role | tests | " + " | ".join(COLUMNS) + " |",
             "|---|---|---|" + "---|" * len(COLUMNS)]
    for peer, role, cells, count in rows:
        lines.append(f"| {peer} | {role} | {count} | " + " | ".join(cells[c] for c in COLUMNS) + " |")
    return "\n".join(lines)


def main(argv):
    if len(argv) not in (2, 4) or (len(argv) == 4 and argv[2] != "--write"):
        print(__doc__, file=sys.stderr)
        return 2
    try:
        tests = load(argv[1])
    except (OSError, ET.ParseError) as e:
        print(f"matrix.py: cannot read {argv[1]}: {e}", file=sys.stderr)
        return 1
    table = render(build(tests))
    print(table)
    if len(argv) == 4:
        path = argv[3]
        with open(path, encoding="utf-8") as f:
            text = f.read()
        begin, end = "<!-- interop-matrix:begin -->", "<!-- interop-matrix:end -->"
        if begin not in text or end not in text:
            print(f"matrix.py: {path} has no {begin} ... {end} block", file=sys.stderr)
            return 1
        head, rest = text.split(begin, 1)
        _, tail = rest.split(end, 1)
        with open(path, "w", encoding="utf-8") as f:
            f.write(head + begin + "\n" + table + "\n" + end + tail)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
