#!/usr/bin/env python3
"""Receiver faults: every acknowledged event is delivered, retries follow the schedule.

One outboxd, one integration per fault scenario (each its own company), all
running at once against a scripted Data Collector receiver written here (it
verifies the SharedKey signature independently of the C++ code and records
every attempt: when it arrived, which records it carried, how it was
answered). The n-th request of an integration gets the n-th step of its
script, then 200. Plus one integration on tools/fake_sentinel with its own
random faults (503 + Retry-After, resets, timeouts, stored-then-failed, slow).

Checked per record: after its k-th failed attempt the next one arrives no
earlier than the schedule's k-th interval (1, 3, 5, 10, 10 s ...) after the
failure — or the Retry-After of a 429/503 when that is longer — and not much
later; it finally gets a 200; a slow answer is not retried; a stored-then-
failed answer is retried (a duplicate the receiver can drop by id).

Usage: receiver_faults_test.py --outboxd BIN --fake BIN [--summary FILE]
(env FAULTS_DEBUG=1 prints every attempt the scripted receiver saw)
"""

import argparse
import base64
import hashlib
import hmac
import http.server
import json
import os
import select
import shutil
import socket
import struct
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

SCHEDULE_S = [1, 3, 5, 10, 10, 0, 1, 3, 5, 30]  # include/outboxd/retry.h, cycle 1 and 2
EARLY_TOLERANCE_S = 0.01  # outboxd computes due times in whole milliseconds
LATE_SLACK_S = 5.0        # a retry may come this much later than due (busy machine)
REQUEST_TIMEOUT_S = 30    # outboxd's request timeout (src/destinations/sentinel.h)
CURL_RESEND_WINDOW_S = 0.5

# Scenario -> the steps its first requests get. A step: (action, arg, retry_after).
SCENARIOS = {
    "http_500_twice": [("status", 500, None), ("status", 500, None)],
    "http_503_retry_after_longer": [("status", 503, 3)],
    "http_429_retry_after_then_shorter": [("status", 429, 2), ("status", 429, 1)],
    "connection_reset": [("reset", None, None), ("reset", None, None)],
    "closed_without_answer": [("close_after", 1.0, None)],
    "timeout": [("hang", None, None)],
    "slow_answer": [("slow", 2.0, None)],
    "stored_then_failed": [("store_then_fail", None, None)],
}
EVENTS_PER_SCENARIO = 3


class Attempt:
    def __init__(self, workspace, ids, arrived, reused):
        self.workspace = workspace
        self.ids = ids
        self.arrived = arrived
        self.reused = reused       # came on a kept-alive connection
        self.transparent = False   # libcurl's re-send after a reused connection died
        self.failed_at = None  # when the failure was sent / the connection ended
        self.status = None     # answered status, or a word for no answer
        self.retry_after = None


class ScriptedReceiver:
    """A Data Collector API look-alike that follows a script per workspace."""

    def __init__(self, workspaces, scripts):
        self.keys = dict(workspaces)  # workspace -> base64 key
        self.scripts = {w: list(s) for w, s in scripts.items()}
        self.lock = threading.Lock()
        self.attempts = []
        self.stored = []   # (workspace, id, time)
        self.last_step = {}  # workspace -> (its last attempt, the step it got)
        self.errors = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            served = 0  # requests on this connection so far

            def do_POST(self):
                receiver.handle(self)
                self.served += 1

            # A connection reset on purpose is closed under the handler's feet.
            def handle_one_request(self):
                try:
                    super().handle_one_request()
                except (OSError, ValueError):
                    self.close_connection = True

            def finish(self):
                try:
                    super().finish()
                except (OSError, ValueError):
                    pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def verify(self, handler, body):
        """Returns the workspace of a correctly signed request, or None."""
        auth = handler.headers.get("Authorization", "")
        if not auth.startswith("SharedKey ") or ":" not in auth:
            return None
        workspace, signature = auth[len("SharedKey "):].split(":", 1)
        key = self.keys.get(workspace)
        if key is None or handler.headers.get("Content-Type") != "application/json":
            return None
        to_sign = (f"POST\n{len(body)}\napplication/json\n"
                   f"x-ms-date:{handler.headers.get('x-ms-date', '')}\n/api/logs")
        digest = hmac.new(base64.b64decode(key), to_sign.encode(), hashlib.sha256).digest()
        return workspace if hmac.compare_digest(base64.b64encode(digest).decode(),
                                                signature) else None

    def handle(self, handler):
        body = handler.rfile.read(int(handler.headers.get("Content-Length", 0)))
        arrived = time.time()
        workspace = self.verify(handler, body)
        if workspace is None or not handler.path.startswith("/api/logs"):
            with self.lock:
                self.errors.append(f"bad request {handler.path} {handler.headers}")
            return self.answer(handler, 403, None)
        records = json.loads(body)
        attempt = Attempt(workspace, [r["id"] for r in records], arrived, handler.served > 0)
        with self.lock:
            previous = self.last_step.get(workspace)
            if previous and previous[0].status in ("reset", "closed by receiver") and \
                    previous[0].reused and previous[0].ids == attempt.ids and \
                    arrived - previous[0].failed_at < CURL_RESEND_WINDOW_S:
                # libcurl re-sends at once a request whose reused keep-alive
                # connection died without an answer (on another pooled or a
                # fresh connection, a few times at most): the same outboxd
                # attempt, so it meets the same fate.
                attempt.transparent = True
                step = previous[1]
            else:
                script = self.scripts[workspace]
                step = script.pop(0) if script else ("ok", None, None)
            self.attempts.append(attempt)
            self.last_step[workspace] = (attempt, step)
        action, arg, retry_after = step
        if action in ("ok", "slow", "store_then_fail"):
            if action == "slow":
                time.sleep(arg)  # the receiver's own latency, not a wait in the test
            with self.lock:
                self.stored += [(workspace, i, time.time()) for i in attempt.ids]
            if action == "store_then_fail":
                return self.fail(handler, attempt, 500, None)
            attempt.status = 200
            return self.answer(handler, 200, None)
        if action == "status":
            return self.fail(handler, attempt, arg, retry_after)
        if action == "reset":
            attempt.status, attempt.failed_at = "reset", time.time()
            handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                          struct.pack("ii", 1, 0))
            handler.connection.close()
            handler.close_connection = True
            return
        # hang / close_after: no answer; wait for the client to give up (hang)
        # or close after `arg` seconds ourselves.
        limit = arg if action == "close_after" else REQUEST_TIMEOUT_S + 15
        readable, _, _ = select.select([handler.connection], [], [], limit)
        attempt.failed_at = time.time()
        attempt.status = "closed by client" if readable else "closed by receiver"
        handler.close_connection = True

    def fail(self, handler, attempt, status, retry_after):
        attempt.status, attempt.retry_after = status, retry_after
        attempt.failed_at = time.time()
        self.answer(handler, status, retry_after)

    @staticmethod
    def answer(handler, status, retry_after):
        payload = b"" if status == 200 else b'{"Error":"Injected","Message":"scripted"}'
        handler.send_response(status)
        if retry_after is not None:
            handler.send_header("Retry-After", str(retry_after))
        handler.send_header("Content-Length", str(len(payload)))
        if payload:
            handler.send_header("Content-Type", "application/json")
        handler.end_headers()
        handler.wfile.write(payload)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def expected_delay(failures, attempt):
    """The wait after a record's `failures`-th failure, at `attempt`."""
    delay = SCHEDULE_S[min(failures, len(SCHEDULE_S)) - 1]
    if attempt.status in (429, 503) and attempt.retry_after is not None:
        delay = max(delay, attempt.retry_after)
    return delay


def outboxd_attempts(attempts):
    """Folds libcurl's transparent re-sends into the attempt they repeat."""
    folded = []
    for a in attempts:
        if a.transparent and folded:
            folded[-1] = a
        else:
            folded.append(a)
    return folded


def check_timeline(name, rid, attempts, failures_out):
    """Checks one record's attempts, in arrival order. Returns (failures, intervals)."""
    problems, intervals, failures = [], [], 0
    attempts = outboxd_attempts(attempts)
    for prev, nxt in zip(attempts, attempts[1:]):
        if prev.status == 200:
            problems.append(f"{name}/{rid}: sent again after a 200")
            continue
        failures += 1
        due = expected_delay(failures, prev)
        gap = nxt.arrived - prev.failed_at
        intervals.append(round(gap, 3))
        if gap < due - EARLY_TOLERANCE_S:
            problems.append(f"{name}/{rid}: retry {gap:.3f} s after failure {failures} "
                            f"({prev.status}), schedule says >= {due} s")
        if gap > due + LATE_SLACK_S:
            problems.append(f"{name}/{rid}: retry {gap:.3f} s after failure {failures} "
                            f"({prev.status}), due after {due} s")
        if prev.status == "closed by client" and \
                prev.failed_at - prev.arrived < REQUEST_TIMEOUT_S - 1:
            problems.append(f"{name}/{rid}: outboxd gave up after "
                            f"{prev.failed_at - prev.arrived:.1f} s, before its timeout")
    if not attempts or attempts[-1].status != 200:
        problems.append(f"{name}/{rid}: never answered 200 (last: "
                        f"{attempts[-1].status if attempts else 'no attempt'})")
    failures_out.extend(problems)
    return failures, intervals


def deferred_syncs(daemon):
    status, text, _ = daemon.api("GET", "/metrics")
    if status != 200:
        raise h.HarnessError(f"GET /metrics: {status}")
    for line in str(text).splitlines():
        if line.startswith("outboxd_store_deferred_syncs_total "):
            return int(float(line.split()[1]))
    raise h.HarnessError("no outboxd_store_deferred_syncs_total in /metrics")


def run(args, workdir, failures):
    workspaces = {name: h.new_workspace() for name in SCENARIOS}
    receiver = ScriptedReceiver(
        {w: k for w, k in workspaces.values()},
        {workspaces[name][0]: steps for name, steps in SCENARIOS.items()})
    mixed_ws, mixed_key = h.new_workspace()
    fake = h.FakeSentinel(args.fake, workdir, "mixed", {mixed_ws: mixed_key}, [
        "--fail-rate", "0.15", "--fail-status", "503", "--retry-after", "1",
        "--reset-rate", "0.05", "--timeout-rate", "0.05", "--timeout-close-ms", "300",
        "--store-then-fail-rate", "0.05", "--latency-ms", "20"])
    daemon = h.Outboxd(args.outboxd, workdir)
    try:
        if not daemon.start():
            raise h.HarnessError(f"outboxd did not start:\n{h.tail(daemon.log)}")
        ids = {}
        for company, name in enumerate(SCENARIOS, start=100):
            ids[name] = daemon.create_integration(
                company, name, *workspaces[name], f"http://127.0.0.1:{receiver.port}",
                {"hits": True})
        ids["fake_sentinel_mixed"] = daemon.create_integration(
            200, "mixed", mixed_ws, mixed_key, fake.endpoint, {"hits": True, "system": True})
        acked = {}
        for company, name in enumerate(SCENARIOS, start=100):
            batch = [h.event(f"{name}-{i}", company, "hit", type="sqli")
                     for i in range(EVENTS_PER_SCENARIO)]
            status, answer = daemon.ingest(batch)
            if status != 202:
                raise h.HarnessError(f"ingest for {name}: {status} {answer}")
            acked[name] = [e["id"] for e in batch]
        mixed = []
        for n in range(20):
            batch = [h.event(f"mixed-{n}-{i}", 200, "hit" if i % 2 else "user_created")
                     for i in range(10)]
            status, answer = daemon.ingest(batch)
            if status != 202:
                raise h.HarnessError(f"ingest (mixed): {status} {answer}")
            mixed += [e["id"] for e in batch]
        daemon.wait_drained(list(ids.values()), args.drain_timeout, [fake])
        fake_stats = fake.stats()
        # The dispatcher's outcomes are written without an fsync; the
        # housekeeping thread syncs them within about a second.
        try:
            h.wait_until(lambda: deferred_syncs(daemon) > 0, 5,
                         "the dispatcher's writes synced by housekeeping")
        except h.HarnessError as e:
            failures.append(str(e))
        rc = daemon.stop()
        if rc != 0:
            failures.append(f"outboxd exited {rc} on SIGTERM:\n{h.tail(daemon.log)}")
    finally:
        if daemon.alive():
            daemon.kill()
        receiver.stop()
        fake.stop()
    return check(receiver, fake, fake_stats, workspaces, acked, mixed, failures)


def check(receiver, fake, fake_stats, workspaces, acked, mixed, failures):
    failures.extend(receiver.errors)
    by_ws = {w: name for name, (w, _) in workspaces.items()}
    per_record = {}
    for a in receiver.attempts:
        for rid in a.ids:
            per_record.setdefault((by_ws[a.workspace], rid), []).append(a)
    figures = {}
    if os.environ.get("FAULTS_DEBUG"):
        for a in sorted(receiver.attempts, key=lambda a: a.arrived):
            print(f"  {by_ws[a.workspace]:35} {a.arrived:.3f} reused={a.reused} "
                  f"transparent={a.transparent} {a.status} failed_at={a.failed_at} {a.ids}")
    for name, rids in acked.items():
        scripted = [s[0] for s in SCENARIOS[name]]
        seen_failures, intervals = 0, []
        for rid in rids:
            attempts = sorted(per_record.get((name, rid), []), key=lambda a: a.arrived)
            n, gaps = check_timeline(name, rid, attempts, failures)
            seen_failures = max(seen_failures, n)
            intervals += gaps
        copies = sum(1 for w, i, _ in receiver.stored if by_ws[w] == name)
        if name == "slow_answer" and (seen_failures or copies != len(rids)):
            failures.append(f"slow_answer: retried ({seen_failures} failures, {copies} copies)")
        if name == "stored_then_failed" and copies < 2 * len(rids):
            failures.append(f"stored_then_failed: {copies} copies, expected the records twice")
        if name not in ("slow_answer",) and seen_failures < len(scripted):
            failures.append(f"{name}: the script's {len(scripted)} faults were not all hit "
                            f"({seen_failures})")
        resends = sum(1 for a in receiver.attempts if by_ws[a.workspace] == name and a.transparent)
        figures[name] = dict(failures=seen_failures, retry_intervals_s=sorted(set(intervals)),
                             copies_received=copies, curl_resends=resends)
    got = [line["record"]["id"] for line in fake.records()]
    missing = set(mixed) - set(got)
    if missing:
        failures.append(f"fake_sentinel_mixed: {len(missing)} acknowledged events lost, "
                        f"e.g. {sorted(missing)[:5]}")
    figures["fake_sentinel_mixed"] = dict(events=len(mixed), received=len(got),
                                          duplicates=len(got) - len(set(got)),
                                          answers=fake_stats.get("by_status"),
                                          resets=fake_stats.get("resets"),
                                          timeouts=fake_stats.get("timeouts"))
    return figures


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outboxd", required=True)
    parser.add_argument("--fake", required=True)
    parser.add_argument("--drain-timeout", type=float, default=150)
    parser.add_argument("--summary")
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="outboxd-faults-")
    failures = []
    started = time.monotonic()
    try:
        figures = run(args, workdir, failures)
    except h.HarnessError as e:
        print(f"receiver_faults: FAILED (work dir {workdir}): {e}", file=sys.stderr)
        return 1
    summary = dict(scenarios=figures, elapsed_s=round(time.monotonic() - started, 1),
                   passed=not failures)
    h.write_summary(args.summary, summary)
    for name, f in figures.items():
        print(f"receiver_faults: {name}: {f}")
    if failures:
        for failure in failures:
            print(f"receiver_faults: FAIL {failure}", file=sys.stderr)
        print(f"receiver_faults: work dir kept: {workdir}", file=sys.stderr)
        return 1
    print(f"receiver_faults: all {len(figures)} scenarios delivered everything, "
          f"retry intervals as scheduled ({summary['elapsed_s']} s)")
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
