#!/usr/bin/env python3
"""bench/e2e/run.py's join of 202 times and arrivals: every record's latency,
the steady-state ones after the warm-up, missing records and copies."""
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "bench", "e2e"))
import run  # noqa: E402


class JoinLatenciesTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.acks = os.path.join(self.dir.name, "acks.txt")
        self.received = os.path.join(self.dir.name, "received.ndjson")
        # loadgen: first seq, count, sent µs, acknowledged µs. Records 0-1
        # acknowledged at 1,000 ms, 2-3 at 3,500 ms.
        with open(self.acks, "w") as f:
            f.write("0 2 999000 1000000\n2 2 3499000 3500000\n")
        # fake_sentinel --out-format ids; record 3 never arrives, record 2
        # arrives twice, and a record of another run is ignored.
        lines = [(1100, "v0-0"), (1050, "v0-1"), (3510, "v0-2"), (3600, "v0-2"),
                 (1200, "v1-3")]
        with open(self.received, "w") as f:
            for at, rid in lines:
                f.write(f'{{"log_type":"bench","received_at_ms":{at},"id":"{rid}"}}\n')

    def tearDown(self):
        self.dir.cleanup()

    def test_the_warm_up_leaves_out_records_acknowledged_early(self):
        lat, warm, missing, copies = run.join_latencies(
            self.acks, self.received, "v0", 4, warmup_s=2.0)
        self.assertEqual(lat, [10.0, 50.0, 100.0])  # first copy of record 2
        self.assertEqual(warm, [10.0])  # acknowledged 2.5 s after the first 202
        self.assertEqual(missing, 1)
        self.assertEqual(copies, 4)

    def test_no_warm_up_keeps_every_record(self):
        lat, warm, _, _ = run.join_latencies(self.acks, self.received, "v0", 4)
        self.assertEqual(warm, lat)

    def test_a_warm_up_longer_than_the_run_leaves_nothing(self):
        _, warm, _, _ = run.join_latencies(self.acks, self.received, "v0", 4, warmup_s=10)
        self.assertEqual(warm, [])
        self.assertIsNone(run.percentile(warm, 0.99))


if __name__ == "__main__":
    unittest.main()
