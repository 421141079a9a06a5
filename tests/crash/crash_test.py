#!/usr/bin/env python3
"""Crash suite: nothing acknowledged is ever lost.

Producers post events of several types for several companies; outboxd is
killed with SIGKILL at random moments and at each named crash point
(OUTBOXD_CRASH_AT), restarted on the same data directory, again and again.
Then, with the receivers healthy, the outbox drains and the receivers' NDJSON
is checked:
  - every acknowledged (202) event reached every integration it is routed to;
  - nothing reached an integration it is not routed to (or under another log
    type), and every record the receivers got is an event a producer sent or a
    system notice of outboxd's own;
  - duplicates: each extra copy of a record must have been received by a
    different outboxd run than the copy before it (a restart between them,
    allowing RECEIVER_LAG_MS for the receiver's stamp), i.e. it was in flight
    at a kill; their number is reported;
  - the health-window figures of every integration are equal before and after a
    clean restart.

Usage: crash_test.py --outboxd BIN --fake BIN [--kills N] [--summary FILE]
(env CRASH_KILLS sets the default of --kills; CRASH_SEED fixes the random choices).
"""

import argparse
import bisect
import collections
import http.client
import json
import os
import random
import shutil
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

# Crash points and the range of hit counts N used with OUTBOXD_CRASH_AT=name:N.
CRASH_POINTS = {
    "store.apply.before_write": (1, 40),
    "store.apply.after_write": (1, 40),
    "ingest.durable.before_answer": (1, 20),
    "dispatch.answered.before_commit": (1, 20),
    "dispatch.retry.before_commit": (1, 6),
    "dispatch.broken.before_commit": (1, 1),
}
POINT_DEADLINE_S = 30  # a crash point not reached by then: SIGKILL anyway
RECEIVER_LAG_MS = 2000  # longest time from a request's send to the receiver's stamp

# The integrations: company, selection, custom table, receiver.
INTEGRATIONS = {
    "A": dict(company=1, events={"hits": True, "system": True}, receiver="main"),
    "B": dict(company=1, events={"vulnerabilities": ["high"], "rules_and_triggers": True},
              receiver="main"),
    "C": dict(company=2, events={"hits": True, "system": True,
                                 "vulnerabilities": ["high", "medium", "low"],
                                 "rules_and_triggers": True, "scope": True, "triggered": True},
              table="OutboxdCrash_CL", receiver="main"),
    "D": dict(company=3, events={"hits": True, "scope": True}, receiver="main"),
    # Always failing until the end: retries, the failure rule, parked deliveries.
    "F": dict(company=3, events={"system": True, "triggered": True,
                                 "vulnerabilities": ["medium", "low"]}, receiver="flaky"),
}
COMPANIES = [1, 2, 3, 4]  # company 4 has no integration

# (event_type, payload, default log type). Hits flagged experimental or not
# sampled are never forwarded.
EVENT_KINDS = [
    ("hit", {"type": "sqli", "ip": "198.51.100.7"}, "new_hits"),
    ("hit", {"type": "xss", "experimental": True}, "new_hits"),
    ("hit", {"type": "rce", "sampled": False}, "new_hits"),
    ("user_created", {"user": "alice@example.com"}, "create_user"),
    ("application_renamed", {"application": "shop", "name": "store"}, "update_application"),
    ("vulnerability", {"risk": "high", "title": "SQLi in /login"}, "vuln_high"),
    ("vulnerability", {"risk": "medium", "title": "Open redirect"}, "vuln_medium"),
    ("vulnerability", {"risk": "low", "title": "Verbose banner"}, "vuln_low"),
    ("rule_created", {"rule": 17}, "rule_create"),
    ("trigger_deleted", {"trigger": 4}, "trigger_delete"),
    ("scope_object_changed", {"object": "api.example.com"}, "scope_object"),
    ("ip_blocked", {"ip": "203.0.113.9"}, "ip_blocked"),
    ("api_structure_changed", {"endpoint": "/v2/orders"}, "api_structure_changed"),
]
LOG_TYPE = {(k[0], k[1].get("risk")): k[2] for k in EVENT_KINDS}
NOTICE_TYPES = {"integration_broken", "integration_disabled", "integration_deleted"}


def selects(selection, e):
    """DESIGN.md "Selection groups", restated independently of the C++ code."""
    t = e["event_type"]
    if t == "hit":
        return bool(selection.get("hits")) and not e.get("experimental") and e.get("sampled", True)
    if t.startswith(("user_", "integration_", "application_")):
        return bool(selection.get("system"))
    if t == "vulnerability":
        return e["risk"] in selection.get("vulnerabilities", [])
    if t.startswith(("rule_", "trigger_")):
        return bool(selection.get("rules_and_triggers"))
    if t == "scope_object_changed":
        return bool(selection.get("scope"))
    if t in ("api_structure_changed", "attacks_exceeded", "ip_blocked"):
        return bool(selection.get("triggered"))
    return False


def routed_to(e):
    return {name for name, spec in INTEGRATIONS.items()
            if spec["company"] == e["company_id"] and selects(spec["events"], e)}


def expected_log_type(name, e):
    table = INTEGRATIONS[name].get("table")
    if table:
        return table[:-3] if table.endswith("_CL") else table
    return LOG_TYPE[(e["event_type"], e.get("risk"))]


class Producers:
    """Threads posting events with unique ids to whichever outboxd is up."""

    def __init__(self, daemon, threads, seed):
        self.daemon = daemon
        self.cond = threading.Condition()
        self.port = None
        self.stopping = False
        self.sent = {}       # id -> event, every event ever posted
        self.acked = set()   # ids answered 202
        self.outcomes = collections.Counter()
        self.unexpected = []  # answers no run should give (e.g. 400)
        self.threads = [threading.Thread(target=self.run, args=(seed + i, i), daemon=True)
                        for i in range(threads)]

    def start(self):
        for t in self.threads:
            t.start()

    def set_port(self, port):
        with self.cond:
            self.port = port
            self.cond.notify_all()

    def stop(self):
        with self.cond:
            self.stopping = True
            self.cond.notify_all()
        for t in self.threads:
            t.join(timeout=60)

    def wait_port(self):
        with self.cond:
            self.cond.wait_for(lambda: self.port is not None or self.stopping, timeout=1.0)
            return None if self.stopping else self.port

    def run(self, seed, index):
        rng = random.Random(seed)
        n = 0
        while True:
            port = self.wait_port()
            if self.stopping:
                return
            if port is None:
                continue
            batch = []
            for _ in range(rng.randint(1, 8)):
                kind = rng.choice(EVENT_KINDS)
                n += 1
                batch.append(h.event(f"p{index}-{n}", rng.choice(COMPANIES), kind[0],
                                     seq=n, **kind[1]))
            with self.cond:
                for e in batch:
                    self.sent[e["id"]] = e
            try:
                body = "".join(json.dumps(e) + "\n" for e in batch)
                status, answer, _ = h.http_call(port, "POST", "/v1/events", body,
                                                h.INGEST_TOKEN, 30.0, "application/x-ndjson")
            except (OSError, http.client.HTTPException):
                with self.cond:
                    self.outcomes["connection failed"] += 1
                continue
            with self.cond:
                if status == 202 and answer.get("accepted") == len(batch):
                    self.acked.update(e["id"] for e in batch)
                    self.outcomes["202"] += 1
                elif status == 503:
                    self.outcomes["503"] += 1
                else:
                    self.outcomes[str(status)] += 1
                    self.unexpected.append((status, answer))


class CrashRun:
    def __init__(self, args, workdir):
        self.args = args
        self.workdir = workdir
        self.rng = random.Random(args.seed)
        self.workspaces = {name: h.new_workspace() for name in INTEGRATIONS}
        self.failures = []
        self.runs = []  # (start_ms, end_ms) of every outboxd process
        self.kills = collections.Counter()
        self.points_reached = collections.Counter()

    def receivers(self):
        by_receiver = collections.defaultdict(dict)
        for name, spec in INTEGRATIONS.items():
            by_receiver[spec["receiver"]][self.workspaces[name][0]] = self.workspaces[name][1]
        # main: some failures and resets all along (retries, rescheduling);
        # flaky: fails everything until the end (failure rule, parking).
        self.main = h.FakeSentinel(self.args.fake, self.workdir, "main", by_receiver["main"],
                                   ["--fail-rate", "0.1", "--reset-rate", "0.03",
                                    "--seed", str(self.args.seed)])
        self.flaky = h.FakeSentinel(self.args.fake, self.workdir, "flaky", by_receiver["flaky"],
                                    ["--fail-rate", "1", "--fail-status", "503"])
        self.fakes = {"main": self.main, "flaky": self.flaky}

    def create_integrations(self):
        self.ids = {}
        for name, spec in INTEGRATIONS.items():
            workspace, key = self.workspaces[name]
            self.ids[name] = self.daemon.create_integration(
                spec["company"], f"crash {name}", workspace, key,
                self.fakes[spec["receiver"]].endpoint, spec["events"], spec.get("table"))

    def enable_if_broken(self, name):
        state = self.daemon.stats(self.ids[name])["state"]
        if state == "broken":
            status, answer, _ = self.daemon.api("POST", f"/v1/integrations/{self.ids[name]}/enable")
            if status != 200:
                raise h.HarnessError(f"enabling {name}: {status} {answer}")

    def plan(self):
        """Alternates random kills and crash points (round robin over the points)."""
        points = list(CRASH_POINTS)
        plan = []
        for i in range(self.args.kills):
            if i % 2 == 0:
                plan.append(None)
            else:
                name = points[(i // 2) % len(points)]
                lo, hi = CRASH_POINTS[name]
                plan.append((name, self.rng.randint(lo, hi)))
        return plan

    def cycle(self, point):
        env = {"OUTBOXD_CRASH_AT": f"{point[0]}:{point[1]}"} if point else {}
        start_ms = h.now_ms()
        up = self.daemon.start(env)
        if up:
            self.producers.set_port(self.daemon.port)
            if point and point[0] == "dispatch.broken.before_commit":
                try:
                    self.enable_if_broken("F")
                except (OSError, http.client.HTTPException, h.HarnessError):
                    pass  # a crash point hit while we were talking to it
        if point is None:
            time.sleep(self.rng.uniform(0.2, 1.5))  # the random moment of the kill
            self.daemon.kill()
            self.kills["random"] += 1
        else:
            try:
                h.wait_until(lambda: not self.daemon.alive(), POINT_DEADLINE_S,
                             f"crash point {point[0]}:{point[1]}")
                self.points_reached[point[0]] += 1
            except h.HarnessError:
                self.daemon.kill()
            self.kills[point[0] if up else point[0] + " (at startup)"] += 1
        self.producers.set_port(None)
        self.runs.append((start_ms, h.now_ms()))
        rc = self.daemon.proc.returncode
        if rc != -9:
            self.failures.append(f"outboxd run {self.daemon.runs} ended with {rc}, not SIGKILL:\n"
                                 f"{h.tail(self.daemon.log)}")

    def final_run(self):
        start_ms = h.now_ms()
        if not self.daemon.start():
            raise h.HarnessError(f"outboxd did not start:\n{h.tail(self.daemon.log)}")
        self.producers.set_port(self.daemon.port)
        self.producers.stop()
        self.main.control(clear=True)
        self.flaky.control(clear=True)
        for name in INTEGRATIONS:
            self.enable_if_broken(name)
        ids = list(self.ids.values())
        self.daemon.wait_drained(ids, self.args.drain_timeout, self.fakes.values())
        before = {name: self.daemon.stats(i)["window"] for name, i in self.ids.items()}
        rc = self.daemon.stop()
        self.runs.append((start_ms, h.now_ms()))
        if rc != 0:
            self.failures.append(f"clean shutdown exited {rc}:\n{h.tail(self.daemon.log)}")
        start_ms = h.now_ms()
        if not self.daemon.start():
            raise h.HarnessError(f"outboxd did not restart:\n{h.tail(self.daemon.log)}")
        after = {name: self.daemon.stats(i)["window"] for name, i in self.ids.items()}
        queued = {name: self.daemon.stats(i)["queued"] for name, i in self.ids.items()}
        rc = self.daemon.stop()
        self.runs.append((start_ms, h.now_ms()))
        if rc != 0:
            self.failures.append(f"second clean shutdown exited {rc}:\n{h.tail(self.daemon.log)}")
        for name in INTEGRATIONS:
            if (before[name]["requests"], before[name]["failures"]) != \
                    (after[name]["requests"], after[name]["failures"]):
                self.failures.append(f"health window of {name} changed over a clean restart: "
                                     f"{before[name]} -> {after[name]}")
            if queued[name] != 0:
                self.failures.append(f"{name}: {queued[name]} queued after the restart")
        return before

    def check(self):
        """Compares what the receivers got with what was acknowledged."""
        by_workspace = {self.workspaces[n][0]: n for n in INTEGRATIONS}
        received = collections.defaultdict(list)  # (integration, id) -> [received_at_ms]
        notices = 0
        sent = self.producers.sent
        for fake in self.fakes.values():
            for line in fake.records():
                name = by_workspace.get(line["workspace"])
                record = line["record"]
                rid = record.get("id")
                if name is None:
                    self.failures.append(f"record for an unknown workspace: {line}")
                elif rid in sent:
                    e = sent[rid]
                    if name not in routed_to(e):
                        self.failures.append(f"{rid} ({e['event_type']}, company "
                                             f"{e['company_id']}) reached {name}, not routed there")
                    elif line["log_type"] != expected_log_type(name, e):
                        self.failures.append(f"{rid} reached {name} as {line['log_type']}")
                    received[(name, rid)].append(line["received_at_ms"])
                elif record.get("event_type") in NOTICE_TYPES:
                    # A notice is a system event of the integration's company.
                    spec = INTEGRATIONS[name]
                    if record.get("company_id") != spec["company"] or \
                            not spec["events"].get("system"):
                        self.failures.append(f"notice {record} reached {name}")
                    notices += 1
                else:
                    self.failures.append(f"a record nobody sent reached {name}: {record}")
        expected = [(n, i) for i in self.producers.acked for n in routed_to(sent[i])]
        lost = [k for k in expected if k not in received]
        for name, rid in lost[:20]:
            self.failures.append(f"LOST: acknowledged {rid} {sent[rid]} never reached {name}")
        starts = [r[0] for r in self.runs]
        duplicates = 0
        unexplained = 0
        per_kill = collections.Counter()  # run whose kill left the copy in flight -> copies
        for key, times in received.items():
            times.sort()
            duplicates += len(times) - 1
            for earlier, later in zip(times, times[1:]):
                # The receiver stamps a record when it answers, which can be
                # after the run that sent it was killed and the next started.
                run = bisect.bisect_right(starts, earlier - RECEIVER_LAG_MS)
                per_kill[run] += 1
                if run == bisect.bisect_right(starts, later):
                    unexplained += 1
                    if unexplained <= 10:
                        self.failures.append(f"duplicate of {key} within one outboxd run "
                                             f"(received at {earlier} and {later} ms)")
        unacked_delivered = sum(1 for (n, i) in received if i not in self.producers.acked)
        return dict(expected_deliveries=len(expected), lost=len(lost), duplicates=duplicates,
                    duplicate_records=sum(1 for t in received.values() if len(t) > 1),
                    max_duplicates_per_kill=max(per_kill.values(), default=0),
                    unexplained_duplicates=unexplained, notices=notices,
                    unacknowledged_but_delivered=unacked_delivered)

    def run(self):
        started = time.monotonic()
        self.receivers()
        self.daemon = h.Outboxd(self.args.outboxd, self.workdir, extra_args=[
            "--health-min-requests", "10", "--max-in-flight", "32",
            "--batch-max-records", "50", "--shutdown-grace", "2s"])
        start_ms = h.now_ms()
        if not self.daemon.start():
            raise h.HarnessError(f"outboxd did not start:\n{h.tail(self.daemon.log)}")
        self.create_integrations()
        self.daemon.kill()
        self.runs.append((start_ms, h.now_ms()))
        self.producers = Producers(self.daemon, self.args.producers, self.args.seed)
        self.producers.start()
        for i, point in enumerate(self.plan()):
            self.cycle(point)
        windows = self.final_run()
        for fake in self.fakes.values():
            fake.stop()
        figures = self.check()
        missing_points = [p for p in CRASH_POINTS if self.points_reached[p] == 0]
        if self.args.kills >= 2 * len(CRASH_POINTS) and missing_points:
            self.failures.append(f"crash points never reached: {missing_points}")
        if self.producers.unexpected:
            self.failures.append(f"unexpected ingest answers: {self.producers.unexpected[:5]}")
        if not self.producers.acked:
            self.failures.append("no event was ever acknowledged")
        summary = dict(kills=sum(self.kills.values()), kills_by_kind=dict(self.kills),
                       crash_points_reached=dict(self.points_reached),
                       outboxd_runs=self.daemon.runs, events_sent=len(self.producers.sent),
                       events_acknowledged=len(self.producers.acked),
                       ingest_outcomes=dict(self.producers.outcomes), health_windows=windows,
                       elapsed_s=round(time.monotonic() - started, 1), seed=self.args.seed,
                       passed=not self.failures, **figures)
        return summary


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outboxd", required=True)
    parser.add_argument("--fake", required=True)
    parser.add_argument("--kills", type=int, default=int(os.environ.get("CRASH_KILLS", 30)))
    parser.add_argument("--producers", type=int, default=4)
    parser.add_argument("--seed", type=int,
                        default=int(os.environ.get("CRASH_SEED", random.randrange(1 << 30))))
    parser.add_argument("--drain-timeout", type=float, default=180)
    parser.add_argument("--summary", help="write the figures as JSON here")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="outboxd-crash-")
    run = CrashRun(args, workdir)
    try:
        summary = run.run()
    except h.HarnessError as e:
        print(f"crash: FAILED (seed {args.seed}, work dir {workdir}): {e}", file=sys.stderr)
        return 1
    finally:
        for fake in getattr(run, "fakes", {}).values():
            fake.stop()
        if getattr(run, "daemon", None) and run.daemon.alive():
            run.daemon.kill()
    h.write_summary(args.summary, summary)
    print(f"crash: kills={summary['kills']} acknowledged={summary['events_acknowledged']} "
          f"deliveries={summary['expected_deliveries']} lost={summary['lost']} "
          f"duplicates={summary['duplicates']} notices={summary['notices']} "
          f"elapsed={summary['elapsed_s']}s seed={args.seed}")
    if run.failures:
        for failure in run.failures:
            print(f"crash: FAIL {failure}", file=sys.stderr)
        print(f"crash: work dir kept: {workdir}", file=sys.stderr)
        return 1
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
