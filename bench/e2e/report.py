"""Results of the end-to-end bench: JSON per mode, one Markdown table, and
gnuplot PNG charts, all in the results folder."""

import json
import os
import statistics
import subprocess
import tempfile

# Fields that are series or text, not numbers to summarise.
SKIP = {"series", "rss_series", "latency_cdf", "phases", "sink_by_status", "loadgen_cpu_note",
        "all_arrived"}

# (mode, field, label, unit) rows of the Markdown table, in order.
ROWS = [
    ("throughput", "e2e_events_per_s", "end to end (ingest -> nginx TLS sink)", "events/s"),
    ("throughput", "e2e_mb_per_s", "end to end", "MB/s"),
    ("throughput", "ingest_events_per_s", "ingest acknowledged (202, fsync-durable)", "events/s"),
    ("throughput", "cpu_us_per_event", "outboxd CPU per event (= s per 10^6)", "us"),
    ("throughput", "cpu_user_us_per_event", "... of which user", "us"),
    ("throughput", "cpu_system_us_per_event", "... of which system (kernel)", "us"),
    ("throughput", "loadgen_cpu_us_per_event", "load generator CPU per event (same cores)", "us"),
    ("throughput", "context_switches_per_1k_events",
     "outboxd context switches per 1,000 events (all threads)", ""),
    ("throughput", "peak_rss_mib", "outboxd peak RSS", "MiB"),
    ("throughput", "records_per_post", "records per POST to the sink", ""),
    ("throughput", "log_only_share", "deliveries written to the WAL only (not the memtable)",
     "share"),
    ("throughput", "fresh_lists_capped", "fresh list capped (dispatcher behind)", "times"),
    ("throughput", "fresh_lists_dropped", "fresh list dropped", "times"),
    ("throughput", "ingest_request_ms_p99", "ingest request p99 (202 round trip)", "ms"),
    ("throughput", "loadavg_before", "load average before the run (shared machine)", ""),
    ("verify", "target_rate", "verify: offered rate (half the max)", "events/s"),
    ("verify", "e2e_events_per_s", "verify: end to end, fake_sentinel verifying", "events/s"),
    ("verify", "latency_ms_p50", "verify: 202 -> arrival p50", "ms"),
    ("verify", "latency_ms_p99", "verify: 202 -> arrival p99", "ms"),
    ("verify", "latency_ms_p999", "verify: 202 -> arrival p99.9", "ms"),
    ("verify", "warm_latency_ms_p50", "verify: ... p50 after the warm-up (--verify-warmup, 2 s)", "ms"),
    ("verify", "warm_latency_ms_p99", "verify: ... p99 after the warm-up", "ms"),
    ("verify", "warm_latency_ms_p999", "verify: ... p99.9 after the warm-up", "ms"),
    ("verify", "missing_records", "verify: records missing at the sink", ""),
    ("verify", "cpu_us_per_event", "verify: outboxd CPU per event", "us"),
    ("verify", "sink_cpu_us_per_event", "verify: fake_sentinel CPU per event (same cores)", "us"),
    ("verify", "context_switches_per_1k_events",
     "verify: outboxd context switches per 1,000 events", ""),
    ("concurrency", "peak_in_flight", "5,000 integrations: peak requests in flight", ""),
    ("concurrency", "sustained_in_flight_median", "5,000 integrations: sustained in flight "
     "(median, mid-run)", ""),
    ("concurrency", "sink_peak_in_flight", "5,000 integrations: receiver's own peak in flight", ""),
    ("concurrency", "failed_requests", "5,000 integrations: requests failed (TLS connect "
     "timeouts), retried", ""),
    ("concurrency", "peak_rss_mib", "5,000 integrations: outboxd peak RSS", "MiB"),
    ("concurrency", "cpu_us_per_event", "5,000 integrations: outboxd CPU per event", "us"),
    ("concurrency", "sink_accepted_records", "5,000 integrations: records arrived", ""),
    ("backlog", "backlog", "backlog: deliveries queued (destination down)", ""),
    ("backlog", "ingest_events_per_s", "backlog: ingest rate while parked", "events/s"),
    ("backlog", "reopen_to_listening_s", "backlog: SIGKILL -> reopen -> listening", "s"),
    ("backlog", "drain_events_per_s", "backlog: drain rate once up", "events/s"),
    ("backlog", "rss_mib_after_ingest", "backlog: RSS with the backlog queued", "MiB"),
    ("backlog", "rss_mib_max_during_drain", "backlog: max RSS while draining", "MiB"),
    ("kill", "offered_rate", "SIGKILL mid-ingest: offered rate (--kill-rate)", "events/s"),
    ("kill", "acknowledged_at_kill", "SIGKILL mid-ingest: records acknowledged before it", ""),
    ("kill", "wal_mib_at_kill", "SIGKILL mid-ingest: WAL files at the kill", "MiB"),
    ("kill", "reopen_to_listening_s", "SIGKILL mid-ingest: restart -> listening",
     "s"),
    ("kill", "log_only_restored", "SIGKILL mid-ingest: log-only deliveries restored", ""),
    ("kill", "missing_records", "SIGKILL mid-ingest: acknowledged records missing at the sink", ""),
    ("soak", "deliveries", "soak (store alone): deliveries enqueued, scanned, removed", ""),
    ("soak", "scan_us_mean_first", "soak: ScanDue of 1,000, mean, first window", "us"),
    ("soak", "scan_us_mean_last", "soak: ScanDue of 1,000, mean, last window", "us"),
    ("soak", "skipped_per_scan_max", "soak: internal keys skipped per scan, worst window", ""),
    ("soak", "oldest_due_us_max", "soak: OldestDue, worst sample", "us"),
]


def _num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def summarize(runs):
    out = {}
    for key in runs[0]:
        if key in SKIP:
            continue
        values = [r[key] for r in runs if _num(r.get(key))]
        if values:
            out[key] = {"median": statistics.median(values), "min": min(values),
                        "max": max(values), "n": len(values)}
    return out


def one_line(r):
    keys = ["e2e_events_per_s", "ingest_events_per_s", "cpu_us_per_event", "peak_rss_mib",
            "records_per_post", "log_only_share", "fresh_lists_capped", "fresh_lists_dropped",
            "latency_ms_p99", "warm_latency_ms_p99", "peak_in_flight",
            "sustained_in_flight_median",
            "reopen_to_listening_s", "log_only_restored", "missing_records",
            "drain_events_per_s", "scan_us_mean_first",
            "scan_us_mean_last", "skipped_per_scan_max", "loadavg_before"]
    return ", ".join(f"{k}={r[k]}" for k in keys if k in r)


def _path(args, name):
    return os.path.join(args.results, f"{args.tag}{name}")


def save(args, mode, info, runs):
    os.makedirs(args.results, exist_ok=True)
    doc = {"mode": mode, **info, "summary": summarize(runs), "runs": runs}
    with open(_path(args, f"{mode}.json"), "w") as f:
        json.dump(doc, f, indent=1)
    return doc


def _load_all(args, out):
    """This invocation's results, plus earlier ones of modes not run now."""
    docs = dict(out)
    for mode in ("throughput", "verify", "concurrency", "backlog", "kill", "soak"):
        if mode not in docs and os.path.exists(_path(args, f"{mode}.json")):
            with open(_path(args, f"{mode}.json")) as f:
                docs[mode] = json.load(f)
    return docs


def _fmt(v):
    if v is None:
        return "-"
    if isinstance(v, float) and not v.is_integer():
        return f"{v:,.2f}" if abs(v) < 100 else f"{v:,.0f}"
    return f"{int(v):,}"


def write_markdown(args, info, out):
    docs = _load_all(args, out)
    m = info["machine"]
    lines = [
        "# outboxd end-to-end bench: latest results", "",
        f"Machine of the latest run: {m['nproc']} vCPU ({m['cpu']}), {m['memory_gib']} GiB, "
        f"Linux {m['kernel']}; the list of runs below names each run's CPU. "
        "outboxd, the sink and the load generator share these cores, and the VM is shared "
        "(see the load average row). Method and analysis: "
        "[docs/performance.md](../docs/performance.md).", "",
        "| measure | median | min | max | unit | runs |",
        "| --- | ---: | ---: | ---: | --- | ---: |",
    ]
    for mode, field, label, unit in ROWS:
        s = docs.get(mode, {}).get("summary", {}).get(field)
        if s is None:
            continue
        lines.append(f"| {label} | {_fmt(s['median'])} | {_fmt(s['min'])} | {_fmt(s['max'])} | "
                     f"{unit} | {s['n']} |")
    lines += ["", "Runs (when, command):", ""]
    for mode, doc in docs.items():
        cpu = doc.get("machine", {}).get("cpu", "?")
        lines.append(f"- {mode}: {doc.get('started')} on {cpu} `{doc.get('command')}` "
                     f"(batch {doc.get('batch')}, {doc.get('connections')} connections"
                     f"{', outboxd ' + ' '.join(doc['outboxd_args']) if doc.get('outboxd_args') else ''}"
                     f"{', env ' + ' '.join(doc['outboxd_env']) if doc.get('outboxd_env') else ''}"
                     f"{', receiver prefaulted ' + str(doc['receiver_prefault_mib']) + ' MiB' if mode == 'verify' and doc.get('receiver_prefault_mib') else ''})")
    charts = [c for c in ("throughput.png", "latency_cdf.png", "inflight.png", "backlog_rss.png",
                          "soak.png")
              if os.path.exists(_path(args, c))]
    if charts:
        lines += [""] + [f"![{c[:-4]}]({args.tag}{c})" for c in charts]
    with open(_path(args, "latest.md"), "w") as f:
        f.write("\n".join(lines) + "\n")


def _gnuplot(script, data):
    """Runs a gnuplot script; `data` maps placeholder -> rows, written to
    temporary files the script names as @placeholder@."""
    with tempfile.TemporaryDirectory() as tmp:
        for name, rows in data.items():
            path = os.path.join(tmp, name + ".dat")
            with open(path, "w") as f:
                for row in rows:
                    f.write(" ".join(str(x) for x in row) + "\n")
            script = script.replace(f"@{name}@", path)
        subprocess.run(["gnuplot"], input=script.encode(), check=True)


HEAD = 'set terminal pngcairo size 760,380 font "sans,9"\nset grid\nset key top left\n'


def draw_charts(args, out):
    docs = _load_all(args, out)
    if "throughput" in docs:
        runs = docs["throughput"]["runs"]
        rows = [(i + 1, r["e2e_events_per_s"], r["ingest_events_per_s"]) for i, r in enumerate(runs)]
        _gnuplot(HEAD + f'set output "{_path(args, "throughput.png")}"\n'
                 'set title "Throughput per run (700-byte hits, nginx TLS sink)"\n'
                 'set xlabel "run"\nset ylabel "events/s"\nset xtics 1\nset yrange [0:*]\n'
                 'set style data histograms\nset style fill solid 0.7\nset boxwidth 0.8\n'
                 'plot "@t@" using 2:xtic(1) title "end to end", '
                 '"" using 3 title "ingest acknowledged"\n', {"t": rows})
    if "verify" in docs:
        data, plots = {}, []
        for i, r in enumerate(docs["verify"]["runs"]):
            data[f"c{i}"] = [(max(x, 0.1), q) for x, q in r["latency_cdf"] if x is not None]
            plots.append(f'"@c{i}@" using 1:2 with lines lw 2 title "run {i + 1}"')
        _gnuplot(HEAD + f'set output "{_path(args, "latency_cdf.png")}"\n'
                 'set title "202 -> arrival at fake_sentinel (half the max rate)"\n'
                 'set xlabel "ms (log)"\nset ylabel "fraction of events"\nset logscale x\n'
                 'set yrange [0:1]\nset key bottom right\n'
                 'plot ' + ", ".join(plots) + "\n", data)
    if "concurrency" in docs:
        series = docs["concurrency"]["runs"][0]["series"]
        _gnuplot(HEAD + f'set output "{_path(args, "inflight.png")}"\n'
                 'set title "5,000 integrations, receiver +200 ms: requests in flight"\n'
                 'set xlabel "s"\nset ylabel "requests in flight"\nset y2label "RSS MiB"\n'
                 'set ytics nomirror\nset y2tics\nset yrange [0:*]\nset y2range [0:*]\n'
                 'plot "@s@" using 1:2 with lines lw 2 title "in flight", '
                 '"" using 1:3 axes x1y2 with lines title "outboxd RSS"\n', {"s": series})
    if "backlog" in docs:
        r = docs["backlog"]["runs"][0]
        arrows = "".join(f'set arrow from {t},graph 0 to {t},graph 1 nohead dt 2\n'
                         f'set label "{name}" at {t},graph {0.95 - 0.07 * i} offset 0.5,0\n'
                         for i, (name, t) in enumerate(r["phases"]))
        _gnuplot(HEAD + f'set output "{_path(args, "backlog_rss.png")}"\n'
                 f'set title "Backlog of {r["backlog"]:,}: outboxd RSS over time"\n'
                 'set xlabel "s"\nset ylabel "RSS MiB"\nset yrange [0:*]\n'
                 'set key bottom right\n' + arrows +
                 'plot "@r@" using 1:2 with linespoints pt 7 ps 0.4 title "RSS"\n',
                 {"r": r["rss_series"]})
    if "soak" in docs:
        rows = [(r["deliveries"] / 1e6, r["scan_us_mean"], r["scan_us_p99"], r["skipped_per_scan"])
                for r in docs["soak"]["runs"][0]["series"]]
        _gnuplot(HEAD + f'set output "{_path(args, "soak.png")}"\n'
                 'set title "Soak: one ScanDue of 1,000 deliveries vs deliveries removed so far"\n'
                 'set xlabel "deliveries enqueued, scanned and removed (millions)"\n'
                 'set ylabel "us per scan"\nset y2label "internal keys skipped per scan"\n'
                 'set ytics nomirror\nset y2tics\nset yrange [0:*]\n'
                 f'set y2range [0:{1.5 * max(r[3] for r in rows) + 1:.0f}]\n'
                 'plot "@s@" using 1:2 with linespoints pt 7 ps 0.5 title "scan mean", '
                 '"" using 1:3 with lines title "scan p99", '
                 '"" using 1:4 axes x1y2 with lines lw 2 dt 2 title "skipped keys per scan (right)"\n',
                 {"s": rows})
