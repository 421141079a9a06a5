#!/usr/bin/env python3
"""Storage faults: a full disk and the disk quota.

full:  outboxd's data directory on a tmpfs with a size limit, most of it taken
       by a filler file (skipped, exit 77, where mounting is not permitted).
       The receiver fails every request, so deliveries stay queued. Ingest
       until outboxd answers 503; free the space; ingest must resume without
       a restart (RocksDB recovers once a write buffer's worth is free and
       outboxd's housekeeping resumes the store).
quota: --disk-quota a few MB: ingest until 503, restart with the quota
       raised, ingest resumes.
quota-drain: the same 503, then the receiver heals and the outbox drains:
       ingest must resume without a restart (the 503 says "retry once
       deliveries drain").
Both: then the receiver heals, the outbox drains, and every acknowledged
event must have reached the receiver.

Usage: disk_test.py full|quota|quota-drain --outboxd BIN --fake BIN [--summary FILE]
"""

import argparse
import http.client
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

SKIP = 77
# RocksDB resumes writing after "no space" by itself once a write buffer's
# worth (64 MB by default) is free again: freeing the filler must give that.
TMPFS_MB = 100
FREE_MB = 10          # left free by the filler file
BATCH_EVENTS = 100
PAD_BYTES = 2000      # per event: a request is ~200 KB
MAX_FILL_REQUESTS = 400
QUOTA_BYTES = 4 << 20
FULL_FOR_S = 8        # how long the disk stays full after the first 503
RESUME_S = 30         # RocksDB polls the free space every few seconds
DRAIN_RESUME_S = 10   # the disk usage is refreshed every second


class Tmpfs:
    """A size-limited tmpfs at `path` (needs CAP_SYS_ADMIN)."""

    def __init__(self, path, size_mb):
        self.path = path
        os.makedirs(path, exist_ok=True)
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m,mode=0700",
                                 "tmpfs", path], capture_output=True, text=True)
        self.mounted = result.returncode == 0
        self.error = (result.stderr or result.stdout).strip()

    def unmount(self):
        if self.mounted:
            subprocess.run(["umount", "-l", self.path], check=False)
            self.mounted = False


def fill_file(path, megabytes):
    with open(path, "wb") as f:
        chunk = b"\0" * (1 << 20)
        for _ in range(megabytes):
            f.write(chunk)
        f.flush()
        os.fsync(f.fileno())


class Ingester:
    """Posts padded events for company 1 and remembers what was acknowledged."""

    def __init__(self, daemon):
        self.daemon = daemon
        self.acked = []
        self.n = 0
        self.answers = []

    def post(self):
        batch = []
        for _ in range(BATCH_EVENTS):
            self.n += 1
            batch.append(h.event(f"d-{self.n}", 1, "hit", type="sqli", pad="x" * PAD_BYTES))
        status, answer = self.daemon.ingest(batch)
        self.answers.append(status)
        if status == 202:
            self.acked += [e["id"] for e in batch]
        return status, answer

    def post_or_death(self, what):
        """post(), or None when outboxd died instead of answering."""
        try:
            return self.post()
        except (OSError, http.client.HTTPException):
            try:
                self.daemon.proc.wait(timeout=10)  # dying, or a real network error
            except subprocess.TimeoutExpired:
                raise h.HarnessError(f"{what}: ingest connection failed, outboxd alive")
            return None

    def until_refused(self, what):
        """Posts until a 503; returns its answer, or None when outboxd died
        instead of answering. Other answers fail the test."""
        for _ in range(MAX_FILL_REQUESTS):
            answered = self.post_or_death(what)
            if answered is None:
                return None
            if answered[0] == 503:
                return answered[1]
            if answered[0] != 202:
                raise h.HarnessError(f"{what}: ingest answered {answered}")
        raise h.HarnessError(f"{what}: no 503 after {MAX_FILL_REQUESTS} requests")

    def until_accepted(self, timeout_s, what="ingest"):
        """Posts until a 202 or the deadline; returns True (accepted), False
        (still refused) or None (outboxd died)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            answered = self.post_or_death(what)
            if answered is None:
                return None
            if answered[0] == 202:
                return True
            time.sleep(0.2)  # pace the retries of a refused ingest
        return False


def full(args, workdir, summary):
    mount = Tmpfs(os.path.join(workdir, "small"), TMPFS_MB)
    if not mount.mounted:
        print(f"disk_full: SKIPPED: cannot mount a {TMPFS_MB} MB tmpfs here "
              f"({mount.error or 'not permitted'}); run as root to test a full disk")
        return SKIP
    try:
        filler = os.path.join(mount.path, "filler")
        fill_file(filler, TMPFS_MB - FREE_MB)
        return fill_and_recover(args, workdir, summary, mount, filler)
    finally:
        mount.unmount()


def fill_and_recover(args, workdir, summary, mount, filler):
    """Fills the disk, frees it, restarts if needed. A death anywhere is a
    problem (recorded, then outboxd is restarted and the data checked)."""
    ws, key = h.new_workspace()
    fake = h.FakeSentinel(args.fake, workdir, "receiver", {ws: key},
                          ["--fail-rate", "1", "--fail-status", "503"])
    daemon = h.Outboxd(args.outboxd, workdir, data_dir=os.path.join(mount.path, "data"),
                       extra_args=["--health-min-requests", "1000000"])
    problems = summary["problems"]

    def died(when):
        problems.append(f"outboxd died (exit {daemon.proc.returncode}) {when}: "
                        f"{last_error_line(daemon.log)}")

    try:
        if not daemon.start():
            raise h.HarnessError(f"outboxd did not start:\n{h.tail(daemon.log)}")
        integration = daemon.create_integration(1, "disk", ws, key, fake.endpoint, {"hits": True})
        ingester = Ingester(daemon)
        refusal = ingester.until_refused("filling the disk")
        summary["refusal"] = refusal
        summary["acknowledged_when_full"] = len(ingester.acked)
        if refusal is None:
            died("instead of answering 503 when the disk filled")
        elif "cannot store" not in str(refusal):
            raise h.HarnessError(f"503 without the write-error message: {refusal}")
        else:
            # Stay full a while (RocksDB's info log flushes every few seconds):
            # refusals must go on, nothing may die.
            if ingester.until_accepted(FULL_FOR_S, "staying full") is None:
                died("while the disk stayed full")
        os.remove(filler)
        freed_at = time.monotonic()
        resumed = daemon.alive() and ingester.until_accepted(RESUME_S, "space back")
        summary["resumed_without_restart"] = bool(resumed)
        summary["resumed_after_s"] = round(time.monotonic() - freed_at, 1) if resumed else None
        if resumed is None:
            died("after the space came back")
        elif not resumed:
            problems.append(f"ingest did not resume within {RESUME_S} s after the space came "
                            f"back: {last_error_line(daemon.log)}")
        if daemon.alive() and not resumed:
            # RocksDB keeps its write error until the DB is reopened.
            rc = daemon.stop()
            summary["exit_code_after_write_error"] = rc
            if rc < 0:
                died("in a graceful shutdown after the write error")
        if not daemon.alive():
            if not daemon.start():
                raise h.HarnessError(f"outboxd did not restart:\n{h.tail(daemon.log)}")
            if not ingester.until_accepted(10, "after a restart"):
                raise h.HarnessError(f"ingest did not resume after a restart: "
                                     f"{ingester.answers[-3:]}\n{h.tail(daemon.log)}")
        return drain_and_check(daemon, fake, integration, ingester, summary)
    finally:
        if daemon.alive():
            daemon.kill()
        fake.stop()


def quota(args, workdir, summary, drain_first):
    ws, key = h.new_workspace()
    fake = h.FakeSentinel(args.fake, workdir, "receiver", {ws: key},
                          ["--fail-rate", "1", "--fail-status", "503"])
    daemon = h.Outboxd(args.outboxd, workdir, extra_args=["--health-min-requests", "1000000"])
    try:
        if not daemon.start(extra_args=["--disk-quota", str(QUOTA_BYTES)]):
            raise h.HarnessError(f"outboxd did not start:\n{h.tail(daemon.log)}")
        integration = daemon.create_integration(1, "quota", ws, key, fake.endpoint,
                                                {"hits": True})
        ingester = Ingester(daemon)
        refusal = ingester.until_refused("filling the quota")
        summary["refusal"] = refusal
        summary["acknowledged_at_quota"] = len(ingester.acked)
        if "quota" not in str(refusal):
            raise h.HarnessError(f"503 without the quota message: {refusal}")
        if drain_first:
            return resume_after_drain(daemon, fake, integration, ingester, summary)
        # The quota is a start option: raise it with a restart.
        rc = daemon.stop()
        if rc != 0:
            raise h.HarnessError(f"outboxd exited {rc} on SIGTERM:\n{h.tail(daemon.log)}")
        if not daemon.start(extra_args=["--disk-quota", str(16 * QUOTA_BYTES)]):
            raise h.HarnessError(f"outboxd did not restart:\n{h.tail(daemon.log)}")
        if not ingester.until_accepted(10, "quota raised"):
            raise h.HarnessError(f"ingest did not resume with the quota raised: "
                                 f"{ingester.answers[-3:]}")
        return drain_and_check(daemon, fake, integration, ingester, summary)
    finally:
        if daemon.alive():
            daemon.kill()
        fake.stop()


def resume_after_drain(daemon, fake, integration, ingester, summary):
    """The 503 says to retry once deliveries drain: they drain, ingest must resume."""
    fake.control(clear=True)
    daemon.wait_drained([integration], 120, [fake])
    resumed = ingester.until_accepted(DRAIN_RESUME_S, "drained")
    summary["resumed_after_drain"] = resumed
    summary["disk_bytes_after_drain"] = store_disk_bytes(daemon)
    if not resumed:
        raise h.HarnessError(
            f"ingest still refused {DRAIN_RESUME_S} s after the outbox drained: the store "
            f"reports {summary['disk_bytes_after_drain']} bytes against a quota of "
            f"{QUOTA_BYTES} (WAL files stay until a memtable flush, which nothing triggers)")
    return drain_and_check(daemon, fake, integration, ingester, summary)


def last_error_line(log):
    """The last line of a log that looks like the reason a process died."""
    lines = [l.strip() for l in h.tail(log, 200).splitlines()
             if "Assertion" in l or "level=error" in l or "ERROR" in l]
    return lines[-1] if lines else "(nothing in its log)"


def store_disk_bytes(daemon):
    status, text, _ = daemon.api("GET", "/metrics")
    for line in str(text).splitlines():
        if line.startswith("outboxd_store_disk_bytes "):
            return int(float(line.split()[1]))
    return None


def drain_and_check(daemon, fake, integration, ingester, summary):
    fake.control(clear=True)
    daemon.wait_drained([integration], 120, [fake])
    rc = daemon.stop()
    if rc != 0:
        raise h.HarnessError(f"outboxd exited {rc} on SIGTERM:\n{h.tail(daemon.log)}")
    fake.stop()
    got = {line["record"]["id"] for line in fake.records()}
    lost = [i for i in ingester.acked if i not in got]
    summary.update(acknowledged=len(ingester.acked), lost=len(lost),
                   refused_requests=ingester.answers.count(503))
    if lost:
        raise h.HarnessError(f"{len(lost)} acknowledged events lost, e.g. {lost[:5]}")
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["full", "quota", "quota-drain"])
    parser.add_argument("--outboxd", required=True)
    parser.add_argument("--fake", required=True)
    parser.add_argument("--summary")
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix=f"outboxd-disk-{args.mode}-")
    summary = {"mode": args.mode, "problems": []}
    started = time.monotonic()
    try:
        if args.mode == "full":
            rc = full(args, workdir, summary)
        else:
            rc = quota(args, workdir, summary, drain_first=args.mode == "quota-drain")
    except h.HarnessError as e:
        print(f"disk_{args.mode}: FAILED (work dir {workdir}): {e}", file=sys.stderr)
        return 1
    summary["elapsed_s"] = round(time.monotonic() - started, 1)
    if rc == SKIP:
        shutil.rmtree(workdir, ignore_errors=True)
        return SKIP
    h.write_summary(args.summary, summary)
    print(f"disk_{args.mode}: {summary}")
    if summary["problems"]:
        for problem in summary["problems"]:
            print(f"disk_{args.mode}: FAIL {problem}", file=sys.stderr)
        print(f"disk_{args.mode}: work dir kept: {workdir}", file=sys.stderr)
        return 1
    shutil.rmtree(workdir, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
