"""Process harness shared by the crash and fault suites (python3 stdlib only).

Starts outboxd and fake_sentinel as real processes on 127.0.0.1 with
ephemeral ports, talks to outboxd's API, and waits on conditions with bounded
deadlines (never a fixed sleep to wait for something).
"""

import base64
import http.client
import json
import os
import signal
import subprocess
import time
import uuid

ADMIN_TOKEN = "crash-suite-admin-token"
INGEST_TOKEN = "crash-suite-ingest-token"


class HarnessError(Exception):
    """A process did not behave; the message says what and where its log is."""


def wait_until(predicate, timeout_s, what, interval_s=0.05):
    """Polls predicate() until it returns a truthy value, or raises after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise HarnessError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(interval_s)


def now_ms():
    return int(time.time() * 1000)


def new_workspace():
    """A workspace id (GUID) and its base64 primary key."""
    key = base64.b64encode(os.urandom(32)).decode()
    return str(uuid.uuid4()), key


def http_call(port, method, path, body=None, token=None, timeout_s=10.0,
              content_type="application/json"):
    """One request to 127.0.0.1:port. Returns (status, parsed JSON or text, headers).

    Raises OSError / http.client.HTTPException when the connection fails.
    """
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout_s)
    try:
        headers = {}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = None
        if body is not None:
            data = body if isinstance(body, (bytes, str)) else json.dumps(body)
            if isinstance(data, str):
                data = data.encode()
            headers["Content-Type"] = content_type
        conn.request(method, path, body=data, headers=headers)
        response = conn.getresponse()
        raw = response.read()
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw.decode(errors="replace")
        return response.status, parsed, dict(response.getheaders())
    finally:
        conn.close()


def tail(path, lines=40):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return "(no log)"


class FakeSentinel:
    """tools/fake_sentinel with a set of known workspaces."""

    def __init__(self, binary, workdir, name, workspaces, extra_args=()):
        self.name = name
        self.out = os.path.join(workdir, f"{name}.ndjson")
        self.log = os.path.join(workdir, f"{name}.log")
        port_file = os.path.join(workdir, f"{name}.port")
        args = [binary, "--listen", "127.0.0.1:0", "--port-file", port_file, "--out", self.out]
        for workspace, key in workspaces.items():
            args += ["--workspace", f"{workspace}={key}"]
        args += list(extra_args)
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)

        def port_ready():
            if self.proc.poll() is not None:
                raise HarnessError(f"{name} exited with {self.proc.returncode}:\n{tail(self.log)}")
            try:
                with open(port_file) as f:
                    return int(f.read().strip())
            except (OSError, ValueError):
                return None

        self.port = wait_until(port_ready, 30, f"{name} to listen")

    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.port}"

    def control(self, **fields):
        status, body, _ = http_call(self.port, "POST", "/control", fields)
        if status != 200:
            raise HarnessError(f"{self.name} /control {fields}: {status} {body}")
        return body

    def stats(self):
        return http_call(self.port, "GET", "/stats")[1]

    def records(self):
        """Every complete NDJSON line written so far, parsed."""
        result = []
        try:
            with open(self.out, "rb") as f:
                for line in f:
                    if line.endswith(b"\n"):
                        result.append(json.loads(line))
        except FileNotFoundError:
            pass
        return result

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


class Outboxd:
    """One outboxd data directory, started and stopped (or killed) many times."""

    def __init__(self, binary, workdir, data_dir=None, extra_args=()):
        self.binary = binary
        self.workdir = workdir
        self.data_dir = data_dir or os.path.join(workdir, "data")
        self.extra_args = list(extra_args)
        self.proc = None
        self.port = None
        self.runs = 0
        self.log = None

    def start(self, env_extra=None, extra_args=(), timeout_s=60):
        """Starts outboxd; returns True once it listens, False when it died first
        (e.g. killed by an armed crash point during startup)."""
        assert self.proc is None or self.proc.poll() is not None
        self.runs += 1
        self.log = os.path.join(self.workdir, f"outboxd.{self.runs}.log")
        stdout = os.path.join(self.workdir, f"outboxd.{self.runs}.out")
        env = dict(os.environ)
        env.pop("OUTBOXD_CRASH_AT", None)
        env.update(env_extra or {})
        # No prefaulted heaps: these suites start outboxd again and again, and
        # faulting in 160 MiB before each start made them ~40 s slower in all.
        args = [self.binary, "--data-dir", self.data_dir, "--listen", "127.0.0.1:0",
                "--admin-token", ADMIN_TOKEN, "--ingest-token", INGEST_TOKEN,
                "--allow-endpoint-override", "--prefault-memory", "0",
                *self.extra_args, *extra_args]
        with open(stdout, "wb") as out, open(self.log, "wb") as err:
            self.proc = subprocess.Popen(args, stdout=out, stderr=err, env=env)
        self.port = None

        def listening():
            with open(stdout, errors="replace") as f:
                for line in f:
                    if line.startswith("listening on ") and line.endswith("\n"):
                        return int(line.rsplit(":", 1)[1])
            if self.proc.poll() is not None:
                return -1
            return None

        port = wait_until(listening, timeout_s, f"outboxd run {self.runs} to listen")
        if port < 0:
            return False
        self.port = port
        return True

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self):
        """SIGKILL (no-op if already dead); returns the exit status."""
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
        return self.proc.wait()

    def stop(self, timeout_s=60):
        """SIGTERM, a graceful shutdown; returns the exit code."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise HarnessError(f"outboxd did not stop within {timeout_s} s:\n{tail(self.log)}")

    def api(self, method, path, body=None, token=ADMIN_TOKEN, timeout_s=10.0):
        return http_call(self.port, method, path, body, token, timeout_s)

    def create_integration(self, company_id, name, workspace, key, endpoint, events,
                           table=None):
        body = {"company_id": company_id, "name": name, "kind": "sentinel",
                "workspace_id": workspace, "primary_key": key, "endpoint": endpoint,
                "events": events}
        if table:
            body["table"] = table
        status, answer, _ = self.api("POST", "/v1/integrations", body)
        if status != 201:
            raise HarnessError(f"creating integration {name}: {status} {answer}")
        return answer["id"]

    def stats(self, integration_id):
        status, answer, _ = self.api("GET", f"/v1/integrations/{integration_id}/stats")
        if status != 200:
            raise HarnessError(f"stats of {integration_id}: {status} {answer}")
        return answer

    def ingest(self, events, timeout_s=30.0):
        """POSTs events as NDJSON. Returns (status, answer); raises OSError when
        the connection fails."""
        body = "".join(json.dumps(e, separators=(",", ":")) + "\n" for e in events)
        status, answer, _ = http_call(self.port, "POST", "/v1/events", body, INGEST_TOKEN,
                                      timeout_s, content_type="application/x-ndjson")
        return status, answer

    def wait_drained(self, integration_ids, timeout_s, fakes=()):
        """Waits until every integration has queued == 0."""
        def drained():
            return all(self.stats(i)["queued"] == 0 for i in integration_ids)

        try:
            wait_until(drained, timeout_s, "the outbox to drain", interval_s=0.2)
        except HarnessError as e:
            detail = {i: self.stats(i) for i in integration_ids}
            fake_stats = {f.name: f.stats() for f in fakes}
            raise HarnessError(f"{e}: {detail} receivers {fake_stats}\n{tail(self.log)}")


def event(event_id, company_id, event_type, **payload):
    """An event as the ingest API takes it."""
    return {"id": event_id, "company_id": company_id, "event_type": event_type,
            "occurred_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **payload}


def write_summary(path, summary):
    if path:
        with open(path, "w") as f:
            json.dump(summary, f, indent=2, sort_keys=True)
            f.write("\n")
