"""Processes the end-to-end bench starts and what it reads from them.

outboxd, the nginx TLS sink, tools/fake_sentinel and tools/loadgen, plus
/proc sampling (CPU seconds, RSS, peak RSS) and the outboxd API calls the
harness needs. Python 3 standard library only.
"""

import base64
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
BENCH_DIR = os.path.dirname(os.path.abspath(__file__))


def free_port():
    """A TCP port free right now on 127.0.0.1 (for sinks that cannot report one)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout, what, interval=0.02):
    """Polls `predicate` until it returns a true value; raises after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


# ---------------------------------------------------------------- /proc


def cpu_times(pid):
    """(utime, stime) of the whole process (all threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK


def cpu_seconds(pid):
    """utime + stime of the whole process (all threads), in seconds."""
    return sum(cpu_times(pid))


def context_switches(pid):
    """Voluntary + involuntary context switches of the process's live threads."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                for line in f:
                    if line.startswith(("voluntary_ctxt_switches:",
                                        "nonvoluntary_ctxt_switches:")):
                        total += int(line.split()[1])
        except OSError:
            pass  # the thread ended meanwhile
    return total


def memory_kib(pid):
    """{'VmRSS': KiB, 'VmHWM': KiB} of the process."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0])
    return out


class Sampler:
    """Calls `sample()` every `interval` s on a thread; keeps (t, value) rows."""

    def __init__(self, sample, interval):
        self._sample = sample
        self._interval = interval
        self._stop = threading.Event()
        self.rows = []
        self.t0 = time.monotonic()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                value = self._sample()
            except (OSError, ValueError, http.client.HTTPException):
                value = None  # the process is restarting or gone
            if value is not None:
                self.rows.append((time.monotonic() - self.t0, value))
            self._stop.wait(self._interval)

    def stop(self):
        self._stop.set()
        self._thread.join()
        return self.rows


# ---------------------------------------------------------------- certificates


def make_certificate(work):
    """A self-signed EC certificate for 127.0.0.1, localhost and *.bench.test."""
    cert, key = os.path.join(work, "cert.pem"), os.path.join(work, "key.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "2", "-subj", "/CN=outboxd-bench", "-keyout", key, "-out", cert,
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:*.bench.test"],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return cert, key


# ---------------------------------------------------------------- outboxd


class Outboxd:
    """One outboxd process on a data directory, listening on an ephemeral port."""

    ADMIN = "bench-admin-token"
    INGEST = "bench-ingest-token"

    def __init__(self, binary, data_dir, log_dir, extra_args=(), wrapper=(), env=None):
        self.binary, self.data_dir, self.log_dir = binary, data_dir, log_dir
        self.extra_args = list(extra_args)
        self.extra_env = dict(env or {})
        self.wrapper = list(wrapper)  # e.g. valgrind --tool=callgrind ...
        self.proc = None
        self.port = None
        self.startup_s = None

    def start(self, timeout=120):
        """Starts it; returns seconds from exec to its "listening on" line."""
        os.makedirs(self.log_dir, exist_ok=True)
        env = dict(os.environ, **self.extra_env)
        env.update(OUTBOXD_ADMIN_TOKEN=self.ADMIN, OUTBOXD_INGEST_TOKEN=self.INGEST)
        args = self.wrapper + [self.binary, "--data-dir", self.data_dir, "--listen", "127.0.0.1:0",
                "--log-level", "warn"] + self.extra_args
        stderr = open(os.path.join(self.log_dir, "outboxd.log"), "ab")
        t0 = time.monotonic()
        self.proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=stderr)
        stderr.close()
        line = self.proc.stdout.readline().decode()
        m = re.match(r"listening on (\S+):(\d+)", line)
        if not m:
            raise RuntimeError(f"outboxd did not start ({line!r}); see {self.log_dir}/outboxd.log")
        self.startup_s = time.monotonic() - t0
        self.port = int(m.group(2))
        return self.startup_s

    @property
    def pid(self):
        return self.proc.pid

    def kill(self):
        """SIGKILL: no flush, no graceful anything."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self, timeout=120):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def request(self, method, path, body=None, token=None, timeout=60):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            headers = {"Authorization": f"Bearer {token or self.ADMIN}"}
            data = None
            if body is not None:
                data = json.dumps(body).encode()
                headers["Content-Type"] = "application/json"
            conn.request(method, path, body=data, headers=headers)
            res = conn.getresponse()
            text = res.read().decode()
            return res.status, text
        finally:
            conn.close()

    def create_integration(self, spec):
        status, text = self.request("POST", "/v1/integrations", spec)
        if status != 201:
            raise RuntimeError(f"creating an integration: {status} {text}")
        return json.loads(text)["id"]

    def enable(self, integration_id):
        status, text = self.request("POST", f"/v1/integrations/{integration_id}/enable")
        if status != 200:
            raise RuntimeError(f"enabling {integration_id}: {status} {text}")
        return json.loads(text)

    def stats(self, integration_id):
        status, text = self.request("GET", f"/v1/integrations/{integration_id}/stats")
        if status != 200:
            raise RuntimeError(f"stats of {integration_id}: {status} {text}")
        return json.loads(text)

    def metrics(self):
        """Prometheus text as {name{labels}: value}, per-integration series summed
        under their bare name as well."""
        status, text = self.request("GET", "/metrics")
        if status != 200:
            raise RuntimeError(f"/metrics: {status}")
        return parse_metrics(text)


def parse_metrics(text):
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, value = line.rpartition(" ")
        try:
            v = float(value)
        except ValueError:
            continue
        out[name] = v
        if "{integration=" in name:
            bare = name.split("{", 1)[0]
            out[bare + "{sum}"] = out.get(bare + "{sum}", 0) + v
    return out


def sentinel_integration(company_id, workspace, key, endpoint, name):
    return {"company_id": company_id, "name": name, "kind": "sentinel",
            "workspace_id": workspace, "primary_key": key, "endpoint": endpoint,
            "events": {"hits": True}}


def workspace_guid(i):
    return f"{i:08x}-0000-4000-8000-{i:012x}"


BENCH_KEY = base64.b64encode(b"outboxd-bench-shared-key-0123456789abcdef").decode()


# ---------------------------------------------------------------- sinks


class Nginx:
    """nginx from Debian as a TLS sink answering 200 to POST /api/logs."""

    def __init__(self, work, cert, key, http2=True):
        self.work = os.path.join(work, "nginx")
        os.makedirs(self.work, exist_ok=True)
        self.port = free_port()
        self.status_port = free_port()
        with open(os.path.join(BENCH_DIR, "nginx.conf.in")) as f:
            conf = f.read()
        user = "user root;" if os.geteuid() == 0 else ""
        conf = (conf.replace("@USER@", user).replace("@WORK@", self.work)
                .replace("@PORT@", str(self.port)).replace("@STATUS_PORT@", str(self.status_port))
                .replace("@CERT@", cert).replace("@KEY@", key)
                .replace("@HTTP2@", "http2" if http2 else ""))
        self.conf = os.path.join(self.work, "nginx.conf")
        with open(self.conf, "w") as f:
            f.write(conf)
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(["nginx", "-c", self.conf, "-p", self.work],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(self._up, 10, "nginx")

    def _up(self):
        try:
            return self.status() is not None
        except OSError:
            return False

    def status(self):
        """The sink's request counters from nginx's basic status page:
        {'requests': total handled requests, 'active': connections}."""
        conn = http.client.HTTPConnection("127.0.0.1", self.status_port, timeout=5)
        try:
            conn.request("GET", "/")
            text = conn.getresponse().read().decode()
        finally:
            conn.close()
        nums = text.split("\n")[2].split()
        return {"requests": int(nums[2]), "active": int(text.split()[2])}

    def cpu_seconds(self):
        """nginx master + workers."""
        total = 0.0
        for pid in [self.proc.pid] + children(self.proc.pid):
            try:
                total += cpu_seconds(pid)
            except OSError:
                pass
        return total

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


class FakeSentinel:
    """tools/fake_sentinel over HTTPS: verifies every signature, writes every
    record with received_at_ms."""

    def __init__(self, binary, work, cert, key, workspaces=(), any_key=None, latency_ms=0,
                 threads=1, out=True, out_format="records", env=None, prefault_mib=0):
        self.work = work
        self.extra_env = dict(env or {})
        self.out = os.path.join(work, "received.ndjson") if out else None
        args = [binary, "--listen", "127.0.0.1:0", "--tls-cert", cert, "--tls-key", key,
                "--threads", str(threads)]
        for ws, k in workspaces:
            args += ["--workspace", f"{ws}={k}"]
        if any_key:
            args += ["--any-workspace", any_key]
        if latency_ms:
            args += ["--latency-ms", str(latency_ms)]
        if prefault_mib:
            args += ["--prefault-mib", str(prefault_mib)]
        if self.out:
            args += ["--out", self.out, "--out-format", out_format]
        self.args = args
        self.proc = None
        self.port = None

    def start(self):
        log = open(os.path.join(self.work, "fake_sentinel.log"), "ab")
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=log,
                                     env=dict(os.environ, **self.extra_env))
        log.close()
        line = self.proc.stdout.readline().decode()
        m = re.match(r"listening on .*:(\d+)", line)
        if not m:
            raise RuntimeError(f"fake_sentinel did not start: {line!r}")
        self.port = int(m.group(1))

    def stats(self):
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=10,
                                           context=_insecure_context())
        try:
            conn.request("GET", "/stats")
            return json.loads(conn.getresponse().read().decode())
        finally:
            conn.close()

    def stop(self):
        """SIGTERM flushes the records file."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _insecure_context():
    import ssl
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


# ---------------------------------------------------------------- loadgen


def run_loadgen(binary, port, events, batch, connections, work, companies=1, rate=0,
                id_prefix="bench", acks=None, timeout=1800):
    """Runs tools/loadgen to completion; returns its JSON summary."""
    args = [binary, "--target", f"127.0.0.1:{port}", "--token", Outboxd.INGEST,
            "--events", str(events), "--batch", str(batch), "--connections", str(connections),
            "--companies", str(companies), "--rate", str(rate), "--id-prefix", id_prefix]
    if acks:
        args += ["--acks", acks]
    with open(os.path.join(work, "loadgen.log"), "ab") as log:
        # Bounded: a timer kills loadgen when the timeout expires. Reaped with
        # wait4 for its own CPU time (the sink and outboxd share its cores).
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=log)
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        try:
            out = proc.stdout.read()
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
        finally:
            timer.cancel()
            proc.stdout.close()
    if proc.returncode != 0:
        raise RuntimeError(f"loadgen failed ({proc.returncode}, killed after {timeout} s "
                           f"if negative); see {work}/loadgen.log")
    result = json.loads(out)
    result["cpu_s"] = round(usage.ru_utime + usage.ru_stime, 2)
    return result


class Loadgen:
    """tools/loadgen in the background (for runs that sample while it sends)."""

    def __init__(self, binary, port, events, batch, connections, work, **kw):
        self._result = None
        self._error = None

        def run():
            try:
                self._result = run_loadgen(binary, port, events, batch, connections, work, **kw)
            except Exception as e:  # reported by result()
                self._error = e

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()

    def done(self):
        return not self._thread.is_alive()

    def result(self):
        self._thread.join()
        if self._error:
            raise self._error
        return self._result


# ---------------------------------------------------------------- profiles


class PerfRecord:
    """perf record -e cpu-clock on a running process (hardware counters are
    not available in this VM; the software clock still samples user and
    kernel time)."""

    def __init__(self, pid, out):
        self.out = out
        self.proc = subprocess.Popen(
            ["perf", "record", "-e", "cpu-clock", "-F", "999", "--call-graph", "dwarf,32768", "-p", str(pid), "-o", out],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self, report_path):
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait()
        flat = subprocess.run(
            ["perf", "report", "-i", self.out, "--stdio", "--no-children", "--sort", "dso,sym",
             "--percent-limit", "0.4", "-g", "none"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout
        by_thread = subprocess.run(
            ["perf", "report", "-i", self.out, "--stdio", "--no-children", "--sort", "comm",
             "-g", "none"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout
        with open(report_path, "w") as f:
            f.write("# perf record -e cpu-clock, self time by symbol\n")
            f.write("\n".join(l for l in flat.splitlines() if l and not l.startswith("#")))
            f.write("\n\n# by thread name\n")
            f.write("\n".join(l for l in by_thread.splitlines() if l and not l.startswith("#")))
            f.write("\n")


def callgrind_wrapper(out):
    return ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", "--dump-instr=no"]


def callgrind_report(out, report_path):
    text = subprocess.run(["callgrind_annotate", "--inclusive=yes", out],
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout
    exclusive = subprocess.run(["callgrind_annotate", out], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True).stdout
    with open(report_path, "w") as f:
        f.write("# callgrind, inclusive (Ir)\n" + "\n".join(text.splitlines()[:90]))
        f.write("\n\n# callgrind, exclusive (Ir)\n" + "\n".join(exclusive.splitlines()[:70]))
        f.write("\n")
