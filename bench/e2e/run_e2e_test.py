#!/usr/bin/env python3
"""Tests of run_e2e.py's own logic with a fake adapter, no namespaces and no real stack: a failed
cell carries its adapters' log tails, a smoke run retries another stack's failed cell once (not
ours, not in a measurement), and the second-half rate comes from the receiver's half_seconds."""
import os
import sys
import tempfile
import textwrap
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run_e2e as m  # noqa: E402

# A t1 adapter in the shape of PROTOCOL.md. FAKE=fail: the receiver logs a line and exits 1 after
# the answer (as werift's did when its transfer stalled); otherwise it reports N bytes in 2 s,
# half of them after 1.5 s.
FAKE = textwrap.dedent("""
    import json, os, sys
    def emit(o):
        print(json.dumps(o), flush=True)
    role = sys.argv[sys.argv.index("--role") + 1]
    total = int(sys.argv[sys.argv.index("--bytes") + 1])
    emit({"type": "config", "text": "fake " + role})
    if role == "offerer":
        emit({"type": "description", "sdp": "offer"})
        sys.stdin.readline()  # answer
        if os.environ.get("FAKE") == "fail":
            sys.exit(1)  # (not waiting the runner's 5 s for a "done" that does not come)
        sys.stdin.readline()  # done
        emit({"type": "result", "role": "sender", "cpu_seconds": 0.5})
    else:
        sys.stdin.readline()  # offer
        emit({"type": "description", "sdp": "answer"})
        if os.environ.get("FAKE") == "fail":
            print("fake receiver: transfer stalled", file=sys.stderr, flush=True)
            sys.exit(1)
        emit({"type": "result", "role": "receiver", "bytes": total, "messages": 4, "seconds": 2.0,
              "half_seconds": 1.5, "open_to_done_seconds": 2.1, "cpu_seconds": 0.25, "ok": True})
""")


class RunnerTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp()
        fake = os.path.join(self.dir, "fake_adapter.py")
        with open(fake, "w") as f:
            f.write(FAKE)
        self.orig = m.adapter_command
        m.adapter_command = lambda stack, build: [sys.executable, fake]
        os.environ.pop("FAKE", None)

    def tearDown(self):
        m.adapter_command = self.orig
        os.environ.pop("FAKE", None)

    def t1(self, stack="werift"):
        return m.run_t1(stack, "unused", self.dir, 65536, 4 << 20, 20, ns_pair=(None, None))

    def test_a_good_cell_reports_rates_and_the_second_half(self):
        r = self.t1()
        self.assertTrue(r["ok"], r)
        self.assertAlmostEqual(r["mb_per_s"], (4 << 20) / 2.0 / 1e6)
        self.assertAlmostEqual(r["second_half_mb_per_s"], (2 << 20) / 0.5 / 1e6)
        self.assertFalse(m.cell_failed(r))

    def test_a_failed_cell_carries_the_adapters_log_tails(self):
        os.environ["FAKE"] = "fail"
        r = self.t1()
        self.assertFalse(r["ok"])
        self.assertTrue(m.cell_failed(r))
        self.assertIn("adapter exited (code 1)", r["error"])
        self.assertIn("transfer stalled", r["log_tails"]["receiver"])
        self.assertIn("fake offerer", r["config"])

    def test_smoke_runs_retry_another_stacks_failure_once_and_report_it(self):
        calls = []

        def flaky():
            calls.append(1)
            os.environ["FAKE"] = "fail" if len(calls) == 1 else "ok"
            return self.t1()

        r = m.run_cell("werift", True, flaky)
        self.assertEqual(len(calls), 2)
        self.assertTrue(r["ok"], r)
        self.assertIn("adapter exited", r["first_attempt"]["error"])
        res = {"t4": {"werift": {"20/0.01": r}}, "t4_conditions": [{"rtt_ms": 20, "loss": 0.01}],
               "t4_bytes": 4 << 20, "t4_lossy_bytes": 4 << 20}
        text = m.summarize(res, ["werift"])
        self.assertIn("failed once and were run again", text)
        self.assertIn("t4 werift 20/0.01: first attempt: adapter exited", text)

    def test_our_cells_and_measurement_runs_get_one_attempt(self):
        for stack, quick in (("peerlink", True), ("werift", False)):
            calls = []

            def failing():
                calls.append(1)
                os.environ["FAKE"] = "fail"
                return self.t1(stack)

            r = m.run_cell(stack, quick, failing)
            self.assertEqual(len(calls), 1, (stack, quick))
            self.assertFalse(r["ok"])
            self.assertNotIn("first_attempt", r)

    def test_cell_failed_covers_t2_and_t3_shapes(self):
        self.assertTrue(m.cell_failed({"ms": [1.0], "failures": 1}))
        self.assertFalse(m.cell_failed({"ms": [1.0], "failures": 0}))
        self.assertTrue(m.cell_failed({"connections": 40, "connected": 39}))
        self.assertFalse(m.cell_failed({"connections": 40, "connected": 40}))


if __name__ == "__main__":
    unittest.main()
