"""Benchmark: XML-RPC resolve throughput of p2pnsd with the names cached (16 keep-alive clients)
as a ratio to a bare libmicrohttpd + xmlrpc-c server (tool_rpc_bare) measured in the same run,
and uncached resolve latency on an overlay of 20 p2pnsd processes. Bounded in count and time.

Throughput: ROUNDS rounds of tool_rpc_load against each server, the bare server and the daemon
taking turns so that both see the same machine; each round is WARMUP_S s of warm-up (not
counted) and MEASURE_S s measured. The figure is each server's best round: other work on the
machine only ever slows a round down, so the best one is the closest to what the server can do.

--json prints the figures as JSON lines; --lat-dir DIR writes rpc_bare.lat and rpc_cached.lat
(every call of the best round) and rpc_uncached.lat."""
import json
import os
import pathlib
import random
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import xmlrpc.client

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "integration"))
from conftest import NodeSet, build_dir, wait_settled  # noqa: E402
from benchlib import Output, parse_args  # noqa: E402

CLIENTS = 16
ROUNDS = 3
WARMUP_S = 1
MEASURE_S = 4
TARGET = 0.9
CACHED_NODES = 3            # a small overlay is enough when every name is cached
CACHED_NAMES = 100
OVERLAY_NODES = 20
UNCACHED_NAMES = 200
ADDRESS = b"192.0.2.7:5060"
DEADLINE_S = 170            # the whole benchmark
RPC_TIMEOUT_S = 35          # one XML-RPC call (the daemon gives up after 30 s)
START_TIMEOUT_S = 10        # a server's listening socket to appear


def free_tcp_port():
    """A TCP port nobody listens on right now (the daemon may still lose a race for it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(host, port, proc_alive, timeout=START_TIMEOUT_S):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError:
            if not proc_alive():
                raise AssertionError(f"the server for port {port} exited at start")
            time.sleep(0.05)
    raise AssertionError(f"nothing listens on {host}:{port} after {timeout} s")


def cpu_seconds(pid):
    """User + system CPU time of a process so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Bare:
    """tool_rpc_bare on a port of its choosing."""

    def __init__(self, tool, logpath):
        self.log = open(logpath, "w")
        self.proc = subprocess.Popen([tool, "--listen", "127.0.0.1:0"], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=self.log, text=True)
        ready, _, _ = select.select([self.proc.stdout], [], [], START_TIMEOUT_S)
        line = self.proc.stdout.readline() if ready else ""
        if not line.startswith("listening "):
            self.close()
            raise AssertionError(f"tool_rpc_bare did not start: {line!r}")
        self.port = int(line.rsplit(":", 1)[1])
        self.pid = self.proc.pid

    def alive(self):
        return self.proc.poll() is None

    def close(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
                raise AssertionError("tool_rpc_bare did not exit on SIGTERM")
        self.proc.stdout.close()
        self.log.close()
        if self.proc.returncode != 0:
            raise AssertionError(f"tool_rpc_bare exit status {self.proc.returncode}")


def load(tool, port, pid, prefix, names, samples):
    """One round of tool_rpc_load, its latencies written to the file samples; returns its
    JSON figures plus the server's CPU share and the samples' path."""
    args = [tool, "--url", f"127.0.0.1:{port}", "--clients", str(CLIENTS), "--seconds",
            str(MEASURE_S), "--warmup", str(WARMUP_S), "--names", str(names), "--prefix", prefix,
            "--samples", str(samples)]
    cpu0, t0 = cpu_seconds(pid), time.monotonic()
    run = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                         timeout=WARMUP_S + MEASURE_S + 30)
    cpu1, t1 = cpu_seconds(pid), time.monotonic()
    if run.returncode != 0:
        raise AssertionError(f"tool_rpc_load failed ({run.returncode}): {run.stderr.strip()}")
    result = json.loads(run.stdout.strip().splitlines()[-1])
    result["server_cpu_pct"] = 100 * (cpu1 - cpu0) / (t1 - t0)
    result["samples_path"] = samples
    return result


def summary(out, label, what, server, rounds, stem):
    """Lines and figures ("WHAT throughput", ..., "SERVER CPU") for the best round (by rps) of
    a server's rounds, whose latencies become STEM.lat; returns that round."""
    best = max(rounds, key=lambda r: r["rps"])
    each = " ".join(f"{r['rps']:.0f}" for r in rounds)
    out.line(f"{label:<34} {best['rps']:9.0f} calls/s  (rounds {each})")
    out.line(f"{'':<34} p50 {best['p50_ms']:.3f} ms  p99 {best['p99_ms']:.3f} ms  "
             f"max {best['max_ms']:.3f} ms  errors {sum(r['errors'] for r in rounds)}  "
             f"reconnects {sum(r['reconnects'] for r in rounds)}")
    out.line(f"{'':<34} CPU: server {best['server_cpu_pct']:.0f} %  "
             f"load generator {best['cpu_pct']:.0f} % (of one core; {os.cpu_count()} cores)")
    if best["server_cpu_pct"] < 90:
        out.line(f"{'':<34} (the server had less than a core: other work on the machine)")
    out.figure(f"{what} throughput", round(best["rps"]), "calls/s")
    out.figure(f"{what} p50", best["p50_ms"], "ms")
    out.figure(f"{what} p99", best["p99_ms"], "ms")
    out.figure(f"{server} CPU", round(best["server_cpu_pct"]), "% of a core")
    if out.lat_dir is not None:
        out.lat_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(best["samples_path"], out.lat_dir / f"{stem}.lat")
    return best


def daemon_support(binary):
    """The options of p2pnsd --help this benchmark cares about, or the reason to skip."""
    if not pathlib.Path(binary).exists():
        return None, f"{binary} is not built"
    out = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=10)
    text = out.stdout + out.stderr
    if "--rpc-listen" not in text:
        return None, "p2pnsd --help has no --rpc-listen (no XML-RPC front end in this build)"
    return {opt for opt in ("--cache-ttl", "--cache-size") if opt in text}, None


class Overlay:
    """p2pnsd processes with their XML-RPC servers on free ports."""

    def __init__(self, ns):
        self.ns = ns
        self.nodes = []

    def start(self, count, seed, extra=(), extra_for=None, hosts=False):
        """Starts count nodes, each joining through one or two earlier ones; extra_for(i)
        adds options to node i. With hosts, node i gets loopback address 127.0.0.(10+i) of
        its own, as nodes on separate machines have (the per-source rate limit of the KBR
        counts by IP address)."""
        rng = random.Random(seed)
        for i in range(count):
            boots = rng.sample(self.nodes, min(i, rng.choice((1, 2)))) if i else []
            args = list(extra) + (list(extra_for(i)) if extra_for is not None else [])
            node = self.ns.new(c1=0, c2=0, rpc=True,
                               host=f"127.0.0.{10 + i}" if hosts else "127.0.0.1")
            node.start(bootstrap=boots, extra=args)
            node.rpc_port = urllib.parse.urlsplit(node.rpc_url).port
            try:
                wait_listening(node.host, node.rpc_port, node.running)
            except AssertionError as e:
                raise AssertionError(f"{node.name}: {e}; its log:\n{node.log()[-3000:]}")
            self.nodes.append(node)
        return self.nodes


def register_all(nodes, names, addresses, rng):
    """register() each name through a node chosen by rng; raises on the first failure."""
    proxies = {n.name: n.proxy(RPC_TIMEOUT_S) for n in nodes}
    for name, addr in zip(names, addresses):
        node = rng.choice(nodes)
        answer = proxies[node.name].register(xmlrpc.client.Binary(name), 1, 0,
                                             xmlrpc.client.Binary(addr), 3600)
        if answer != 0:
            raise AssertionError(f"register {name!r} on {node.name}: {answer!r}")


def resolve_ok(answer, addr):
    return isinstance(answer, list) and any(
        isinstance(rec, list) and rec and getattr(rec[0], "data", None) == addr
        for rec in answer)


def resolve_all(node, names, addr):
    """resolve(name, 0) on node for every name; raises unless each finds addr."""
    p = node.proxy(RPC_TIMEOUT_S)
    for name in names:
        answer = p.resolve(xmlrpc.client.Binary(name), 0)
        if not resolve_ok(answer, addr):
            raise AssertionError(f"resolve {name!r} on {node.name}: {answer!r}")


def bench_throughput(out, tools, tmp, binary, support, start):
    """Part 1: bare server against the daemon with cached names (or the bare one alone)."""
    out.line(f"== XML-RPC resolve throughput, {CLIENTS} keep-alive clients on 127.0.0.1 "
             f"({ROUNDS} rounds of {WARMUP_S} s warm-up + {MEASURE_S} s, best round)")
    bare = Bare(tools["bare"], tmp / "bare.log")
    ns = None
    try:
        target = None
        if support is not None:
            ns = NodeSet(binary, tmp / "cached")
            (tmp / "cached").mkdir()
            extra = ["--replicas", "3"]
            if "--cache-ttl" in support:
                extra += ["--cache-ttl", "600"]
            nodes = Overlay(ns).start(CACHED_NODES, seed=2, extra=extra)
            wait_settled(nodes, min_contacts=CACHED_NODES - 1)
            prefix = "bench-cached-"
            names = [f"{prefix}{i}".encode() for i in range(CACHED_NAMES)]
            register_all(nodes[:1], names, [ADDRESS] * len(names), random.Random(2))
            target = nodes[1]       # resolves through the cache filled below
            resolve_all(target, names, ADDRESS)
        bare_rounds, node_rounds = [], []
        for i in range(ROUNDS):
            if bare_rounds and time.monotonic() - start > DEADLINE_S / 2:
                break
            bare_rounds.append(load(tools["load"], bare.port, bare.pid, "name", CACHED_NAMES,
                                    tmp / f"bare{i}.lat"))
            if target is not None:
                resolve_all(target, names, ADDRESS)     # still cached even at a 60 s TTL
                node_rounds.append(load(tools["load"], target.rpc_port, target.proc.pid,
                                        prefix, CACHED_NAMES, tmp / f"cached{i}.lat"))
                if not target.running():
                    raise AssertionError(f"{target.name} exited:\n{target.log()[-3000:]}")
        b = summary(out, "bare xmlrpc-c + libmicrohttpd", "bare server", "bare server",
                    bare_rounds, "rpc_bare")
        broken = [f"bare server: {r['errors']} errors" for r in bare_rounds if r["errors"]]
        if target is not None:
            n = summary(out, f"p2pnsd, names cached ({CACHED_NODES} nodes)", "cached resolve",
                        "p2pnsd (cached resolve)", node_rounds, "rpc_cached")
            ratio = n["rps"] / b["rps"] if b["rps"] else 0.0
            verdict = "PASS" if ratio >= TARGET else "BELOW"
            out.line(f"{'ratio cached / bare':<34} {ratio:9.2f}  (target >= {TARGET})  {verdict}")
            out.figure("throughput ratio cached / bare", round(ratio, 3), "", ">=", TARGET)
            broken += [f"p2pnsd: {r['errors']} errors ({r['faults']} faults)"
                       for r in node_rounds if r["errors"]]
        return broken
    finally:
        try:
            bare.close()
        finally:
            if ns is not None:
                ns.close()


def bench_uncached(out, tmp, binary, support, start):
    """Part 2: resolve latency on a node that has not seen the names (and caches nothing)."""
    rng = random.Random(3)
    ns = NodeSet(binary, tmp / "overlay")
    (tmp / "overlay").mkdir()
    try:
        measured = OVERLAY_NODES - 1
        cache_off = ["--cache-size", "0"] if "--cache-size" in support else []
        nodes = Overlay(ns).start(OVERLAY_NODES, seed=3, hosts=True,
                                  extra_for=lambda i: cache_off if i == measured else [])
        wait_settled(nodes)
        time.sleep(1.0)
        node, others = nodes[measured], nodes[:measured]
        how = "cache off (--cache-size 0)" if cache_off else "names new to it"
        out.line(f"== uncached resolve on {OVERLAY_NODES} p2pnsd processes (127.0.0.10-29, "
                 f"one call at a time, {how})")
        names = [f"sip:fresh{i}@bench.example".encode() for i in range(UNCACHED_NAMES)]
        addrs = [f"192.0.2.{i % 250}:{5060 + i}".encode() for i in range(UNCACHED_NAMES)]
        register_all(others, names, addrs, rng)
        time.sleep(0.5)
        p = node.proxy(RPC_TIMEOUT_S)
        ms, failures = [], 0
        for name, addr in zip(names, addrs):
            if time.monotonic() - start > DEADLINE_S:
                break
            t = time.monotonic()
            try:
                ok = resolve_ok(p.resolve(xmlrpc.client.Binary(name), 0), addr)
            except (xmlrpc.client.Fault, OSError, xmlrpc.client.ProtocolError):
                ok = False
            if ok:
                ms.append(1000 * (time.monotonic() - t))
            else:
                failures += 1
        if ms:
            out.latency("uncached resolve", "resolve (lookups over the overlay)", ms,
                        "rpc_uncached")
        out.line(f"{'resolves that failed':<34} {failures} of {len(ms) + failures}")
        out.figure("uncached resolve failures", failures, "calls")
        return [f"{failures} uncached resolves failed"] if failures else []
    finally:
        ns.close()


def main():
    out = Output("rpc", parse_args(__doc__))
    start = time.monotonic()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("bench_rpc: terminated"))
    build = build_dir()
    tools = {"bare": str(build / "bench" / "tool_rpc_bare"),
             "load": str(build / "bench" / "tool_rpc_load")}
    for path in tools.values():
        if not os.access(path, os.X_OK):
            raise SystemExit(f"bench_rpc: {path} is not built (make bench builds it)")
    binary = str(build / "bin" / "p2pnsd")
    support, why = daemon_support(binary)
    if support is None:
        raise SystemExit(f"bench_rpc: {why}")
    broken = []
    with tempfile.TemporaryDirectory(prefix="p2pns-bench-rpc-") as tmpdir:
        tmp = pathlib.Path(tmpdir)
        broken += bench_throughput(out, tools, tmp, binary, support, start)
        broken += bench_uncached(out, tmp, binary, support, start)
    out.line(f"{'total time':<34} {time.monotonic() - start:9.1f} s  (load average "
             f"{os.getloadavg()[0]:.2f})")
    if broken:
        raise SystemExit("bench_rpc: " + "; ".join(broken))


if __name__ == "__main__":
    main()
