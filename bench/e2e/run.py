#!/usr/bin/env python3
"""outboxd's end-to-end benchmark: one command, results in results/.

  tools/setup.sh --bench   # nginx-light, gnuplot-nox, linux-perf (run.py does it too)
  bench/e2e/run.py                          # every mode, default sizes (6-12 min here)
  bench/e2e/run.py --modes throughput --events 1000000 --runs 3

Installs the bench packages, builds outboxd, tools/fake_sentinel,
tools/loadgen and bench/store_soak (Release, build-bench-release/), makes a
self-signed certificate, and runs these modes (--modes picks some):

  throughput   nginx TLS sink on loopback answering 200; outboxd on a fresh
               data dir with one integration pointing there; loadgen pushes
               --events hit records through POST /v1/events; measured until
               the outbox is drained: events/s and MB/s end to end, ingest-
               acknowledged events/s, outboxd CPU s per million events, its
               context switches per 1,000 events, peak RSS, records per
               post. Repeated --runs times.
  verify       tools/fake_sentinel (HTTPS, every signature verified, every
               record written with received_at_ms) at half the measured
               maximum rate: p50/p99/p999 from each event's 202 to its
               arrival; every record id arrived (duplicates counted). The
               receiver writes each record's id, not the record
               (--out-format ids).
  concurrency  --integrations integrations (5,000), each on its own host
               name sent to 127.0.0.1 with --connect-to, fake_sentinel adding
               200 ms per answer: requests in flight over time (peak and
               sustained), RSS, CPU, every record arrived.
  backlog      destination down (the integration trips the failure rule and
               parks), --backlog-events queued (10^6; --big-backlog: 10^7),
               SIGKILL, time to reopen, destination up + enable: drain rate,
               RSS over time.
  kill         --kill-events offered at --kill-rate (fake_sentinel verifying,
               answering --kill-receiver-latency-ms late); outboxd is
               SIGKILLed --kill-after seconds in and restarted on the
               same port, loadgen resending what was unanswered: time from
               the restart to listening (RocksDB's recovery plus the
               log-only restore), WAL bytes at the kill, log-only deliveries
               restored, and that every acknowledged record arrived
               (duplicates counted).
  soak         bench/store_soak on the store alone: --soak-deliveries
               enqueued, scanned and removed in batches; per window the mean
               and p99 ScanDue time and the internal keys (tombstones) each
               scan stepped over, so a growing scan cost would show.

Each mode writes results/<mode>.json; all of them results/latest.md and the
PNG charts (gnuplot). Python 3 standard library only.
"""

import argparse
import contextlib
import json
import os
import signal
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import procs  # noqa: E402
import report  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODES = ("throughput", "verify", "concurrency", "backlog", "kill", "soak")
# The README's recommended environment for outboxd (see "Running it"): glibc
# backs its large mappings, RocksDB's memtable arenas among them, with
# transparent huge pages.
RECOMMENDED_ENV = ("GLIBC_TUNABLES=glibc.malloc.hugetlb=1",)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--modes", default=",".join(MODES), help="comma-separated subset of " +
                   ", ".join(MODES))
    p.add_argument("--events", type=int, default=1_000_000, help="records per throughput run")
    p.add_argument("--runs", type=int, default=3, help="repeats of throughput and verify")
    p.add_argument("--throughput-rate", type=float, default=0,
                   help="offer the throughput runs' records at this rate (records/s) instead of "
                   "as fast as acknowledged: CPU per event at a fixed load, for A/B comparisons")
    p.add_argument("--batch", type=int, default=500, help="records per POST /v1/events")
    p.add_argument("--connections", type=int, default=8, help="loadgen connections")
    # About 7-10 s at the usual verify rate: long enough that the first
    # second (outboxd starting up) does not make the whole run's p99 on a
    # fast VM (docs/performance.md).
    p.add_argument("--verify-events", type=int, default=1_000_000)
    p.add_argument("--verify-warmup", type=float, default=2.0, metavar="SECONDS",
                   help="the verify runs also report latency percentiles of the records "
                   "acknowledged this long after the first 202 (steady state)")
    p.add_argument("--receiver-prefault-mib", type=int, default=96,
                   help="verify runs: fake_sentinel faults in this much of its heap at startup, "
                   "so the first second measures outboxd, not the receiver's page faults "
                   "(0 = off)")
    p.add_argument("--latency-rate", type=float, default=0,
                   help="records/s of the verify runs (default: half the throughput median)")
    p.add_argument("--integrations", type=int, default=5000)
    p.add_argument("--concurrency-events", type=int, default=50_000)
    p.add_argument("--concurrency-rate", type=float, default=5_000)
    p.add_argument("--concurrency-timeout", type=float, default=300,
                   help="seconds to wait for every record of the concurrency run")
    p.add_argument("--concurrency-per-integration", type=int, default=1,
                   help="outboxd --max-in-flight-per-integration in the concurrency run")
    p.add_argument("--backlog-events", type=int, default=1_000_000)
    p.add_argument("--big-backlog", action="store_true", help="10^7 queued in the backlog run")
    p.add_argument("--kill-events", type=int, default=1_000_000,
                   help="records of the kill mode")
    p.add_argument("--kill-rate", type=float, default=150_000,
                   help="kill mode: records/s offered (0 = as fast as acknowledged; then the "
                   "verifying receiver falls behind, the fresh list overflows and nothing is "
                   "log-only at the kill)")
    p.add_argument("--kill-after", type=float, default=3.0, metavar="SECONDS",
                   help="kill mode: SIGKILL this long after loadgen starts")
    p.add_argument("--kill-receiver-latency-ms", type=int, default=0,
                   help="kill mode: the receiver answers this late, so that requests in "
                   "flight hold deliveries the restart must restore")
    p.add_argument("--soak-deliveries", type=int, default=3_000_000)
    p.add_argument("--outboxd-arg", action="append", default=[],
                   help="extra outboxd option, e.g. --outboxd-arg=--linger=10ms (repeatable)")
    p.add_argument("--outboxd-env", action="append", default=[], metavar="NAME=VALUE",
                   help="extra environment of outboxd (repeatable); the recommended one (" +
                   " ".join(RECOMMENDED_ENV) + ") is always set unless --no-recommended-env")
    p.add_argument("--no-recommended-env", action="store_true",
                   help="run outboxd and fake_sentinel without the README's recommended "
                        "environment")
    p.add_argument("--build-dir", default=os.path.join(ROOT, "build-bench-release"))
    p.add_argument("--no-build", action="store_true")
    p.add_argument("--report-only", action="store_true",
                   help="no runs: redraw latest.md and the charts from the saved JSON")
    p.add_argument("--outboxd-binary", default="",
                   help="run this outboxd instead of the build dir's (A/B comparisons)")
    p.add_argument("--results", default=os.path.join(ROOT, "results"))
    p.add_argument("--tag", default="", help="prefix of the result file names")
    p.add_argument("--work-dir", default="", help="default: a fresh directory under /tmp")
    p.add_argument("--keep", action="store_true", help="keep data directories and logs")
    p.add_argument("--sink-records", action="store_true",
                   help="verify runs: the receiver writes whole records (to inspect with "
                        "--keep), not only their ids")
    p.add_argument("--profile", choices=("perf", "callgrind"),
                   help="profile outboxd in the throughput runs (report in results/)")
    args = p.parse_args()
    args.modes = [m for m in args.modes.split(",") if m]
    if args.report_only:
        args.modes, args.no_build = [], True
    for m in args.modes:
        if m not in MODES:
            p.error(f"unknown mode {m}")
    if args.big_backlog:
        args.backlog_events = 10_000_000
    env = [] if args.no_recommended_env else list(RECOMMENDED_ENV)
    env += args.outboxd_env
    for kv in env:
        if "=" not in kv or kv.startswith("="):
            p.error(f"--outboxd-env wants NAME=VALUE, got {kv!r}")
    args.outboxd_env = env
    return args


def build(args):
    subprocess.run([os.path.join(ROOT, "tools/setup.sh"), "--bench"], check=True)
    subprocess.run(["cmake", "-S", ROOT, "-B", args.build_dir, "-G", "Ninja",
                    "-DCMAKE_BUILD_TYPE=Release", "-DOUTBOXD_CRASH_POINTS=OFF",
                    "-DOUTBOXD_BUILD_BENCH=ON"],
                   check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["cmake", "--build", args.build_dir, "-j2", "--target", "outboxd",
                    "fake_sentinel", "loadgen", "store_soak"], check=True)


def machine():
    model = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kib = int(f.readline().split()[1])
    return {"nproc": os.cpu_count(), "cpu": model, "kernel": platform.release(),
            "memory_gib": round(mem_kib / 2**20, 1), "python": platform.python_version()}


def loadavg():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


class Context:
    def __init__(self, args):
        self.args = args
        b = args.build_dir
        self.outboxd = args.outboxd_binary or os.path.join(b, "src/daemon/outboxd")
        self.fake_sentinel = os.path.join(b, "tools/fake_sentinel/fake_sentinel")
        self.loadgen = os.path.join(b, "tools/loadgen/loadgen")
        self.store_soak = os.path.join(b, "bench/store_soak")
        self.work = args.work_dir or tempfile.mkdtemp(prefix="outboxd-bench-")
        os.makedirs(self.work, exist_ok=True)
        self.cert, self.key = procs.make_certificate(self.work)
        # The receiver runs with the README's recommended environment too:
        # it shares the two cores with outboxd, and warming up slower than
        # outboxd it would add its own first second to the latency tail.
        self.receiver_env = {} if args.no_recommended_env else dict(
            kv.split("=", 1) for kv in RECOMMENDED_ENV)

    def run_dir(self, name):
        d = os.path.join(self.work, name)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        return d

    def start_outboxd(self, work, extra=(), wrapper=()):
        ob = procs.Outboxd(self.outboxd, os.path.join(work, "data"), work,
                           ["--allow-endpoint-override", "--ca-file", self.cert] +
                           list(extra) + self.args.outboxd_arg, wrapper,
                           env=dict(kv.split("=", 1) for kv in self.args.outboxd_env))
        ob.start()
        return ob

    def verifying_receiver(self, work, guid, latency_ms=0):
        """tools/fake_sentinel for one workspace, verifying every signature.
        It writes each record's id and arrival time (whole records with
        --sink-records): the join needs no more, and writing whole records
        cost the receiver ~1 µs per record of the CPU it shares with outboxd
        (docs/performance.md)."""
        a = self.args
        return procs.FakeSentinel(self.fake_sentinel, work, self.cert, self.key,
                                  workspaces=[(guid, procs.BENCH_KEY)],
                                  out_format="records" if a.sink_records else "ids",
                                  env=self.receiver_env, prefault_mib=a.receiver_prefault_mib,
                                  latency_ms=latency_ms)

    def cleanup(self, work):
        if not self.args.keep:
            shutil.rmtree(os.path.join(work, "data"), ignore_errors=True)


def wait_drained(ob, integration_id, timeout):
    def drained():
        s = ob.stats(integration_id)
        if s["state"] != "enabled":
            raise RuntimeError(f"integration {integration_id} is {s['state']}: see the outboxd log")
        return s["queued"] == 0

    procs.wait_for(drained, timeout, "the outbox to drain", interval=0.1)


def summarize_delivery(ob, events, cpu0, seconds_e2e, lg, switches0=None):
    """cpu0: procs.cpu_times(ob.pid) when the clock started; switches0:
    procs.context_switches(ob.pid) then."""
    switches = procs.context_switches(ob.pid) - switches0 if switches0 is not None else None
    m = ob.metrics()
    requests = m.get('outboxd_requests_total{class="2xx"}', 0)
    delivered = m.get('outboxd_deliveries_total{outcome="delivered"}', 0)
    user, system = (now - before for now, before in zip(procs.cpu_times(ob.pid), cpu0))
    cpu = user + system
    mem = procs.memory_kib(ob.pid)
    return {
        "events": events,
        "e2e_seconds": round(seconds_e2e, 3),
        "e2e_events_per_s": round(events / seconds_e2e),
        "e2e_mb_per_s": round(lg["body_bytes"] / seconds_e2e / 1e6, 1),
        "ingest_events_per_s": lg["events_per_s"],
        "ingest_request_ms_p50": lg["request_ms_p50"],
        "ingest_request_ms_p99": lg["request_ms_p99"],
        "ingest_retries": lg["retries"],
        "cpu_s_per_million": round(cpu / events * 1e6, 2),
        "cpu_us_per_event": round(cpu / events * 1e6, 2),
        "cpu_user_us_per_event": round(user / events * 1e6, 2),
        "cpu_system_us_per_event": round(system / events * 1e6, 2),
        "loadgen_cpu_us_per_event": round(lg["cpu_s"] / events * 1e6, 2),
        # Every thread's wake-ups and preemptions: each costs several µs here.
        "context_switches_per_1k_events": (round(switches / events * 1000, 1)
                                           if switches is not None else None),
        "peak_rss_mib": round(mem["VmHWM"] / 1024, 1),
        "requests_2xx": int(requests),
        "delivered": int(delivered),
        "records_per_post": round(delivered / requests, 1) if requests else 0,
        "failed_requests": int(m.get('outboxd_requests_total{class="transport_error"}', 0) +
                               m.get('outboxd_requests_total{class="5xx"}', 0) +
                               m.get('outboxd_requests_total{class="4xx"}', 0)),
        # Deliveries that went to the WAL only (the fresh list had them) rather
        # than the memtable, and how often a lagging dispatcher made a list
        # stop listing (capped) or lose what it held (dropped).
        "log_only_share": (round(m.get("outboxd_store_log_only_written_total", 0) /
                                 m["outboxd_ingest_deliveries_total"], 3)
                           if m.get("outboxd_ingest_deliveries_total") else None),
        "fresh_lists_capped": int(m.get("outboxd_store_fresh_lists_capped_total", 0)),
        "fresh_lists_dropped": int(m.get("outboxd_store_fresh_lists_dropped_total", 0)),
        "loadavg_before": None,
    }


# ---------------------------------------------------------------- throughput


def throughput_run(ctx, i):
    a = ctx.args
    work = ctx.run_dir(f"throughput-{i}")
    load = loadavg()
    nginx = procs.Nginx(work, ctx.cert, ctx.key)
    callgrind_out = os.path.join(work, "callgrind.out")
    wrapper = procs.callgrind_wrapper(callgrind_out) if a.profile == "callgrind" else ()
    ob = None
    perf = None
    try:
        nginx.start()
        ob = ctx.start_outboxd(work, wrapper=wrapper)
        iid = ob.create_integration(procs.sentinel_integration(
            1, procs.workspace_guid(1), procs.BENCH_KEY, f"https://127.0.0.1:{nginx.port}", "bench"))
        if a.profile == "perf":
            perf = procs.PerfRecord(ob.pid, os.path.join(work, "perf.data"))
        cpu0, ng0 = procs.cpu_times(ob.pid), nginx.status()["requests"]
        switches0 = procs.context_switches(ob.pid)
        ngcpu0 = nginx.cpu_seconds()
        t0 = time.monotonic()
        lg = procs.run_loadgen(ctx.loadgen, ob.port, a.events, a.batch, a.connections, work,
                               rate=a.throughput_rate, id_prefix=f"t{i}")
        wait_drained(ob, iid, timeout=600)
        r = summarize_delivery(ob, a.events, cpu0, time.monotonic() - t0, lg, switches0)
        if a.throughput_rate:
            r["offered_rate"] = a.throughput_rate
        r["loadavg_before"] = load
        r["sink_requests"] = nginx.status()["requests"] - ng0 - 1
        r["sink_cpu_s"] = round(nginx.cpu_seconds() - ngcpu0, 2)
        r["loadgen_cpu_note"] = "loadgen and nginx share the same 2 cores"
        if perf:
            perf.stop(os.path.join(a.results, f"{a.tag}profile-perf.txt"))
            perf = None
        return r
    finally:
        if perf:
            perf.stop(os.path.join(work, "profile-perf.txt"))
        if ob:
            ob.stop()
        nginx.stop()
        if a.profile == "callgrind" and os.path.exists(callgrind_out):
            procs.callgrind_report(callgrind_out, os.path.join(a.results, f"{a.tag}profile-callgrind.txt"))
        ctx.cleanup(work)


# ---------------------------------------------------------------- verify


def join_latencies(acks_path, received_path, prefix, events, warmup_s=0.0):
    """ms from each event's 202 to its arrival at fake_sentinel (first copy):
    (every record's, sorted; those of records acknowledged at least
    `warmup_s` after the first 202, sorted; missing records; copies)."""
    ack_ms = [None] * events
    with open(acks_path) as f:
        for line in f:
            first, count, _sent, acked = line.split()
            first, count, acked = int(first), int(count), int(acked) / 1000.0
            for s in range(first, first + count):
                ack_ms[s] = acked
    # Lines of --out-format ids ("id":...) or records ("record":{"id":...).
    pattern = re.compile(rb'"received_at_ms":(\d+),(?:"record":\{)?"id":"' +
                         re.escape(prefix.encode()) + rb'-(\d+)"')
    arrived = [None] * events
    copies = 0
    with open(received_path, "rb") as f:
        for line in f:
            m = pattern.search(line)
            if not m:
                continue
            copies += 1
            seq = int(m.group(2))
            if 0 <= seq < events and arrived[seq] is None:
                arrived[seq] = int(m.group(1))
    known = [s for s in range(events) if arrived[s] is not None and ack_ms[s] is not None]
    lat = [max(0.0, arrived[s] - ack_ms[s]) for s in known]
    first_ack = min((ack_ms[s] for s in known), default=0.0)
    warm = [v for s, v in zip(known, lat) if ack_ms[s] >= first_ack + warmup_s * 1000.0]
    missing = sum(1 for s in range(events) if arrived[s] is None)
    return sorted(lat), sorted(warm), missing, copies


def percentile(sorted_values, p):
    if not sorted_values:
        return None
    return sorted_values[min(len(sorted_values) - 1, int(p * len(sorted_values)))]


@contextlib.contextmanager
def verified_outboxd(ctx, work, receiver_latency_ms=0):
    """fake_sentinel verifying, outboxd on a fresh data dir with one
    integration pointing there: yields (fs, ob, integration id); stops both
    and removes the data afterwards."""
    guid = procs.workspace_guid(1)
    fs = ctx.verifying_receiver(work, guid, receiver_latency_ms)
    ob = None
    try:
        fs.start()
        ob = ctx.start_outboxd(work)
        iid = ob.create_integration(procs.sentinel_integration(
            1, guid, procs.BENCH_KEY, f"https://127.0.0.1:{fs.port}", "bench"))
        yield fs, ob, iid
    finally:
        if ob:
            ob.stop()
        fs.stop()
        ctx.cleanup(work)
        if not ctx.args.keep and fs.out and os.path.exists(fs.out):
            os.remove(fs.out)


def verify_run(ctx, i, rate):
    a = ctx.args
    work = ctx.run_dir(f"verify-{i}")
    load = loadavg()
    with verified_outboxd(ctx, work) as (fs, ob, iid):
        cpu0 = procs.cpu_times(ob.pid)
        switches0 = procs.context_switches(ob.pid)
        sink_cpu0 = procs.cpu_seconds(fs.proc.pid)
        acks = os.path.join(work, "acks.txt")
        prefix = f"v{i}"
        t0 = time.monotonic()
        lg = procs.run_loadgen(ctx.loadgen, ob.port, a.verify_events, a.batch, a.connections,
                               work, rate=rate, id_prefix=prefix, acks=acks)
        wait_drained(ob, iid, timeout=600)
        r = summarize_delivery(ob, a.verify_events, cpu0, time.monotonic() - t0, lg,
                               switches0)
        r["loadavg_before"] = load
        r["target_rate"] = rate
        sink = fs.stats()
        # The verifying receiver shares the two vCPUs with outboxd.
        r["sink_cpu_us_per_event"] = round(
            (procs.cpu_seconds(fs.proc.pid) - sink_cpu0) / a.verify_events * 1e6, 2)
        r["sink_accepted_records"] = sink.get("accepted_records")
        r["sink_by_status"] = sink.get("by_status")
        fs.stop()
        lat, warm, missing, copies = join_latencies(acks, fs.out, prefix, a.verify_events,
                                                    a.verify_warmup)
        r["missing_records"] = missing
        r["duplicate_copies"] = copies - (a.verify_events - missing)
        r["latency_ms_p50"] = percentile(lat, 0.5)
        r["latency_ms_p99"] = percentile(lat, 0.99)
        r["latency_ms_p999"] = percentile(lat, 0.999)
        r["latency_ms_max"] = lat[-1] if lat else None
        # Steady state: without the records of outboxd's (and the receiver's)
        # first seconds, when both fault in their working memory.
        r["warmup_s"] = a.verify_warmup
        r["warm_records"] = len(warm)
        r["warm_latency_ms_p50"] = percentile(warm, 0.5)
        r["warm_latency_ms_p99"] = percentile(warm, 0.99)
        r["warm_latency_ms_p999"] = percentile(warm, 0.999)
        r["latency_cdf"] = [[percentile(lat, q / 1000), q / 1000] for q in range(0, 1001, 5)]
        return r


# ---------------------------------------------------------------- concurrency


def concurrency_run(ctx):
    a = ctx.args
    n = a.integrations
    work = ctx.run_dir("concurrency")
    load = loadavg()
    fs = procs.FakeSentinel(ctx.fake_sentinel, work, ctx.cert, ctx.key, any_key=procs.BENCH_KEY,
                            latency_ms=200, threads=2, out=False, env=ctx.receiver_env)
    ob = None
    try:
        fs.start()
        host = lambda i: f"w{i}.bench.test"  # noqa: E731
        # Every integration has its own host name (own connections, own TLS
        # sessions); one wildcard CONNECT_TO sends them all to the receiver.
        # (5,000 --resolve entries work too, but curl loads the whole list
        # into its DNS cache at every transfer: ~ms of CPU per request, and
        # the run times out.) curl counts its per-host connection cap by the
        # connect-to target, so that cap (64 per real host in production)
        # is lifted here; the per-integration cap and the global cap
        # (--max-in-flight) still apply.
        ob = ctx.start_outboxd(work, ["--connect-to", f"::127.0.0.1:{fs.port}",
                                      "--max-host-connections", "0",
                                      "--max-in-flight-per-integration",
                                      str(a.concurrency_per_integration)])
        t_create = time.monotonic()
        specs = [procs.sentinel_integration(i, procs.workspace_guid(i), procs.BENCH_KEY,
                                            f"https://{host(i)}:{fs.port}", f"bench-{i}")
                 for i in range(1, n + 1)]
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(ob.create_integration, specs))
        create_s = time.monotonic() - t_create
        cpu0 = procs.cpu_seconds(ob.pid)

        def sample():
            m = ob.metrics()
            return (m.get("outboxd_requests_in_flight", 0), procs.memory_kib(ob.pid)["VmRSS"],
                    procs.cpu_seconds(ob.pid) - cpu0, m.get("outboxd_queue_depth{sum}", 0))

        sampler = procs.Sampler(sample, 0.25)
        t0 = time.monotonic()
        lg = procs.Loadgen(ctx.loadgen, ob.port, a.concurrency_events, a.batch, a.connections, work,
                           companies=n, rate=a.concurrency_rate, id_prefix="c")
        lgr = lg.result()
        t_ingest = time.monotonic() - t0

        def drained():
            m = ob.metrics()
            return (m.get("outboxd_queue_depth{sum}", 1) == 0 and
                    m.get('outboxd_deliveries_total{outcome="delivered"}', 0) >=
                    a.concurrency_events)

        # Bounded: a receiver on the same cores can fall behind on 5,000 TLS
        # handshakes, and timed-out requests wait on the retry schedule. The
        # result then says how many arrived instead of aborting the bench.
        timed_out = False
        try:
            procs.wait_for(drained, a.concurrency_timeout, "every record to arrive",
                           interval=0.25)
        except TimeoutError:
            timed_out = True
        e2e = time.monotonic() - t0
        rows = sampler.stop()
        m = ob.metrics()
        sink = fs.stats()
        inflight = [(t, v[0]) for t, v in rows]
        during = [v for t, v in inflight if t0 - sampler.t0 + t_ingest * 0.25 <= t <=
                  t0 - sampler.t0 + t_ingest * 0.75] or [0]
        mem = procs.memory_kib(ob.pid)
        cpu = procs.cpu_seconds(ob.pid) - cpu0
        return {
            "integrations": n,
            "events": a.concurrency_events,
            "timed_out_waiting_s": a.concurrency_timeout if timed_out else None,
            "rate": a.concurrency_rate,
            "max_in_flight_per_integration": a.concurrency_per_integration,
            "create_integrations_s": round(create_s, 1),
            "ingest_events_per_s": lgr["events_per_s"],
            "e2e_seconds": round(e2e, 1),
            "peak_in_flight": int(max(m.get("outboxd_requests_in_flight_peak", 0),
                                      max(v for _, v in inflight) if inflight else 0)),
            "sustained_in_flight_median": statistics.median(during),
            "sink_peak_in_flight": sink.get("peak_in_flight"),
            "requests_2xx": int(m.get('outboxd_requests_total{class="2xx"}', 0)),
            "failed_requests": int(m.get('outboxd_requests_total{class="transport_error"}', 0) +
                                   m.get('outboxd_requests_total{class="5xx"}', 0) +
                                   m.get('outboxd_requests_total{class="4xx"}', 0)),
            "delivered": int(m.get('outboxd_deliveries_total{outcome="delivered"}', 0)),
            "sink_accepted_records": sink.get("accepted_records"),
            "all_arrived": sink.get("accepted_records", 0) >= a.concurrency_events,
            "peak_rss_mib": round(mem["VmHWM"] / 1024, 1),
            "cpu_s": round(cpu, 1),
            "cpu_us_per_event": round(cpu / a.concurrency_events * 1e6, 1),
            "loadavg_before": load,
            "series": [[round(t, 2), v[0], round(v[1] / 1024, 1), round(v[2], 2), v[3]]
                       for t, v in rows],
        }
    finally:
        if ob:
            ob.stop()
        fs.stop()
        ctx.cleanup(work)


# ---------------------------------------------------------------- backlog


def note(text):
    print(f"  {time.strftime('%H:%M:%S')} {text}", flush=True)


def backlog_run(ctx):
    a = ctx.args
    work = ctx.run_dir("backlog")
    load = loadavg()
    nginx = procs.Nginx(work, ctx.cert, ctx.key)  # configured, not started: "down"
    # One failed request (connection refused) breaks the integration, which
    # then parks everything: the backlog is written once and never retried.
    extra = ["--health-min-requests", "1"]
    ob = None
    phases = []
    rss_rows = []
    t_origin = time.monotonic()

    def sampler_for(proc_ob):
        return procs.Sampler(lambda: procs.memory_kib(proc_ob.pid)["VmRSS"], 0.5)

    try:
        ob = ctx.start_outboxd(work, extra)
        iid = ob.create_integration(procs.sentinel_integration(
            1, procs.workspace_guid(1), procs.BENCH_KEY, f"https://127.0.0.1:{nginx.port}", "bench"))
        procs.run_loadgen(ctx.loadgen, ob.port, 100, 100, 1, work, id_prefix="trip")
        procs.wait_for(lambda: ob.stats(iid)["state"] == "broken", 60, "the integration to break")
        note("integration broken (destination down); queueing the backlog")
        s = sampler_for(ob)
        cpu_ingest0 = procs.cpu_seconds(ob.pid)
        t0 = time.monotonic()
        lg = procs.run_loadgen(ctx.loadgen, ob.port, a.backlog_events, a.batch, a.connections, work,
                               id_prefix="b")
        ingest_s = time.monotonic() - t0
        ingest_cpu = procs.cpu_seconds(ob.pid) - cpu_ingest0
        queued = ob.stats(iid)["queued"]
        rss_after_ingest = procs.memory_kib(ob.pid)["VmRSS"]
        rss_rows += [(t + s.t0 - t_origin, v) for t, v in s.stop()]
        phases.append(("ingest", t0 - t_origin))

        note(f"{queued} queued; SIGKILL and reopen")
        ob.kill()
        phases.append(("SIGKILL + reopen", time.monotonic() - t_origin))
        reopen_s = ob.start()
        rss_reopened = procs.memory_kib(ob.pid)["VmRSS"]
        queued_after = ob.stats(iid)["queued"]

        note(f"reopened in {reopen_s:.2f} s with {queued_after} queued; destination up, draining")
        nginx.start()
        s = sampler_for(ob)
        cpu0 = procs.cpu_seconds(ob.pid)
        t1 = time.monotonic()
        phases.append(("destination up, drain", t1 - t_origin))
        ob.enable(iid)
        wait_drained(ob, iid, timeout=3600)
        drain_s = time.monotonic() - t1
        cpu = procs.cpu_seconds(ob.pid) - cpu0
        rss_rows += [(t + s.t0 - t_origin, v) for t, v in s.stop()]
        mem = procs.memory_kib(ob.pid)
        return {
            "backlog": queued,
            "queued_after_reopen": queued_after,
            "ingest_events_per_s": round(a.backlog_events / ingest_s),
            "loadgen_events_per_s": lg["events_per_s"],
            "ingest_cpu_us_per_event": round(ingest_cpu / a.backlog_events * 1e6, 2),
            "reopen_to_listening_s": round(reopen_s, 3),
            "drain_seconds": round(drain_s, 2),
            "drain_events_per_s": round(queued_after / drain_s),
            "drain_cpu_us_per_event": round(cpu / max(1, queued_after) * 1e6, 2),
            "rss_mib_after_ingest": round(rss_after_ingest / 1024, 1),
            "rss_mib_after_reopen": round(rss_reopened / 1024, 1),
            "rss_mib_max_during_drain": round(max((v for t, v in rss_rows if t >= t1 - t_origin),
                                                  default=0) / 1024, 1),
            "peak_rss_mib_after_reopen": round(mem["VmHWM"] / 1024, 1),
            "loadavg_before": load,
            "phases": phases,
            "rss_series": [[round(t, 2), round(v / 1024, 1)] for t, v in rss_rows],
        }
    finally:
        if ob:
            ob.stop()
        nginx.stop()
        ctx.cleanup(work)


# ---------------------------------------------------------------- soak


def soak_run(ctx):
    a = ctx.args
    work = ctx.run_dir("soak")
    args = [ctx.store_soak, "--deliveries", str(a.soak_deliveries), "--batch", "1000",
            "--report", str(max(1000, a.soak_deliveries // 40)), "--dir", os.path.join(work, "data")]
    rows = []
    with open(os.path.join(work, "store_soak.log"), "ab") as log:
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=log, text=True)
        try:
            for line in proc.stdout:
                rows.append(json.loads(line))
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    if proc.returncode != 0 or not rows:
        raise RuntimeError(f"store_soak failed ({proc.returncode}); see {work}/store_soak.log")
    ctx.cleanup(work)
    first, last = rows[0], rows[-1]
    return {
        "deliveries": last["deliveries"],
        "seconds": last["seconds"],
        "scan_us_mean_first": first["scan_us_mean"],
        "scan_us_mean_last": last["scan_us_mean"],
        "scan_us_mean_max": max(r["scan_us_mean"] for r in rows),
        "scan_us_p99_max": max(r["scan_us_p99"] for r in rows),
        "skipped_per_scan_max": max(r["skipped_per_scan"] for r in rows),
        "neighbour_skipped_max": max(r["neighbour_skipped"] for r in rows),
        "oldest_due_us_max": max(r["oldest_due_us"] for r in rows),
        "rss_mib_first": first["rss_mib"],
        "rss_mib_last": last["rss_mib"],
        "series": rows,
    }


# ---------------------------------------------------------------- kill


def wal_bytes(data_dir):
    """Bytes of RocksDB WAL files (live and archived) under data_dir."""
    total = 0
    for root, _, files in os.walk(data_dir):
        total += sum(os.path.getsize(os.path.join(root, f)) for f in files
                     if re.fullmatch(r"\d+\.log", f))
    return total


def kill_run(ctx):
    a = ctx.args
    work = ctx.run_dir("kill")
    load = loadavg()
    with verified_outboxd(ctx, work, a.kill_receiver_latency_ms) as (fs, ob, iid):
        acks = os.path.join(work, "acks.txt")
        # loadgen resends what a dropped connection left unanswered, so it
        # rides through the restart (same port) and finishes its records.
        lg = procs.Loadgen(ctx.loadgen, ob.port, a.kill_events, a.batch, a.connections, work,
                           rate=a.kill_rate, id_prefix="k", acks=acks)
        # By the clock, not by polling /metrics: a scrape runs partly on the
        # dispatcher's loop, and polled every 50 ms it is load on the cores
        # being measured; with load beside it the dispatcher can fall behind
        # and the fresh list overflow (docs/performance.md, "2026-12-08").
        time.sleep(a.kill_after)
        port = ob.port
        ob.kill()
        killed_us = time.time() * 1e6
        wal = wal_bytes(ob.data_dir)
        note(f"SIGKILL after {a.kill_after} s; {wal / 2**20:.0f} MiB of WAL; reopening")
        ob.extra_args += ["--listen", f"127.0.0.1:{port}"]
        reopen_s = ob.start()
        restored = int(ob.metrics().get("outboxd_store_log_only_restored_at_open", 0))
        lgr = lg.result()
        wait_drained(ob, iid, timeout=600)
        fs.stop()
        _, _, missing, copies = join_latencies(acks, fs.out, "k", a.kill_events)
        with open(acks) as f:  # first_seq count sent_us acked_us
            acked_at_kill = sum(int(c) for _, c, _, t in (line.split() for line in f)
                                if float(t) < killed_us)
        return {
            "events": a.kill_events,
            "kill_after_s": a.kill_after,
            "offered_rate": a.kill_rate,
            "acknowledged_at_kill": acked_at_kill,
            "receiver_latency_ms": a.kill_receiver_latency_ms,
            "ingest_events_per_s": lgr["events_per_s"],
            "ingest_retries": lgr["retries"],
            "wal_mib_at_kill": round(wal / 2**20, 1),
            "reopen_to_listening_s": round(reopen_s, 3),
            "log_only_restored": restored,
            "missing_records": missing,
            "duplicate_copies": copies - (a.kill_events - missing),
            "loadavg_before": load,
        }


# ---------------------------------------------------------------- main


def repeat(name, fn, runs):
    results = []
    for i in range(runs):
        r = fn(i)
        print(f"{name} run {i + 1}/{runs}: " + report.one_line(r), flush=True)
        results.append(r)
    return results


def _terminate(signum, _frame):
    # SIGTERM/SIGHUP unwind like Ctrl-C, so every finally block stops the
    # processes this run started. Later signals (e.g. timeout(1) forwarding
    # the same one) are ignored so they cannot interrupt that cleanup.
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, signal.SIG_IGN)
    raise KeyboardInterrupt(f"signal {signum}")


def main():
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    args = parse_args()
    if not args.no_build:
        build(args)
    ctx = Context(args)
    os.makedirs(args.results, exist_ok=True)
    info = {"machine": machine(), "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "command": " ".join(sys.argv), "batch": args.batch, "connections": args.connections,
            "outboxd_args": args.outboxd_arg, "outboxd_env": args.outboxd_env,
            "receiver_prefault_mib": args.receiver_prefault_mib}
    print(f"bench: work dir {ctx.work}; machine {info['machine']}", flush=True)
    out = {}
    try:
        if "throughput" in args.modes:
            runs = repeat("throughput", lambda i: throughput_run(ctx, i), args.runs)
            out["throughput"] = report.save(args, "throughput", info, runs)
        if "verify" in args.modes:
            rate = args.latency_rate
            if not rate:
                rate = 0.5 * out["throughput"]["summary"]["e2e_events_per_s"]["median"] \
                    if "throughput" in out else 50_000
            runs = repeat("verify", lambda i: verify_run(ctx, i, rate), args.runs)
            out["verify"] = report.save(args, "verify", info, runs)
        if "concurrency" in args.modes:
            r = concurrency_run(ctx)
            print("concurrency: " + report.one_line(r), flush=True)
            out["concurrency"] = report.save(args, "concurrency", info, [r])
        if "backlog" in args.modes:
            r = backlog_run(ctx)
            print("backlog: " + report.one_line(r), flush=True)
            out["backlog"] = report.save(args, "backlog", info, [r])
        if "kill" in args.modes:
            r = kill_run(ctx)
            print("kill: " + report.one_line(r), flush=True)
            out["kill"] = report.save(args, "kill", info, [r])
        if "soak" in args.modes:
            r = soak_run(ctx)
            print("soak: " + report.one_line(r), flush=True)
            out["soak"] = report.save(args, "soak", info, [r])
    finally:
        if not args.keep and not args.work_dir:
            shutil.rmtree(ctx.work, ignore_errors=True)
    report.write_markdown(args, info, out)
    report.draw_charts(args, out)
    print(f"bench: wrote {os.path.join(args.results, args.tag + 'latest.md')}")


if __name__ == "__main__":
    main()
