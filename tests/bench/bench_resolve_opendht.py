"""Benchmark: latency (median, p99) of a cold resolve on an overlay of 20 p2pnsd processes
through XML-RPC, next to a get on a 20-node OpenDHT network (Debian's python3-opendht) started
by the same run, and the ratio ours / OpenDHT (target: our median at most OpenDHT's). Bounded
in count and time; every process it starts is stopped at the end.

p2pnsd: node i on 127.0.0.(10+i) of its own (the KBR's per-source rate limits count by IP
address), every node with --cache-size 0, so that no name cache answers. NAMES names are
registered through random nodes, then each is resolved once, through a random node that did
not register it. A resolve is timed around the XML-RPC call (keep-alive connection), so our
figure includes an HTTP round trip on loopback that OpenDHT's does not.

OpenDHT: 20 processes (opendht_node.py, run by a python3 that imports opendht), one DhtRunner
each, every node bootstrapped from the first. They all listen on 127.0.0.1, on ports of their
own: OpenDHT replaces a loopback address it finds in a node list by the address of the sender,
so with a 127.0.0.x per node every node learned through another would get a wrong address.
The same names are put through random nodes (each put waits for its done callback), then each
is got once from a random node that did not put it, timed inside that node's process from
get() to its done callback. OpenDHT's values are plain (unsigned) ones, ours are records
signed by their owner, which the resolving node verifies (one Ed25519 verification per distinct
record the replicas returned).

Resolves and gets take turns, one call at a time, so that both networks see the same machine.
Then the parts of a resolve are timed alone: the XML-RPC round trip (local_lookup, answered
from the routing table) and an overlay lookup of a fresh key (lookup); the rest of a resolve
is the FIND_VALUE round to the replicas, the signature checks and the vote.
--json prints the figures as JSON lines; --lat-dir DIR writes resolve_cold.lat and
opendht_get.lat."""
import json
import os
import pathlib
import queue
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import xmlrpc.client

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "integration"))
from conftest import NodeSet, build_dir, wait_settled  # noqa: E402
from benchlib import Output, parse_args, pct  # noqa: E402
from bench_rpc import Overlay, daemon_support, resolve_ok  # noqa: E402

NODE_SCRIPT = pathlib.Path(__file__).resolve().parent / "opendht_node.py"

NODES = 20
NAMES = 200
PHASE_CALLS = 100           # calls of each part of a resolve, timed alone
TARGET = 1.0                # our median / OpenDHT's median, at most
OPENDHT_HOST = "127.0.0.1"
DEADLINE_S = 170            # no new step starts after this (the whole benchmark)
RPC_TIMEOUT_S = 35          # one XML-RPC call (the daemon gives up after 30 s)
DHT_TIMEOUT_S = 30          # one OpenDHT put or get
START_TIMEOUT_S = 15        # an OpenDHT node process to say it is ready
SETTLE_TIMEOUT_S = 20       # the first OpenDHT node to know the others
SETTLE_STABLE_S = 1.0       # its table unchanged this long: settled
STOP_TIMEOUT_S = 5
STATS = ("tx", "handshakes_started", "handshakes_done", "lookups_started", "rpcs_timed_out",
         "dropped_rate", "dropped_tag", "dropped_index", "dropped_handshake", "cookies_sent")


# ---- the OpenDHT network ----------------------------------------------------------------

def opendht_python():
    """An interpreter that can import opendht (this one or Debian's), or None."""
    for py in dict.fromkeys([sys.executable, "/usr/bin/python3"]):
        try:
            run = subprocess.run([py, "-c", "import opendht"], capture_output=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if run.returncode == 0:
            return py
    return None


class DhtNode:
    """One OpenDHT node process, spoken to over its stdin and stdout."""

    def __init__(self, python, host, logpath):
        self.log = open(logpath, "w")
        self.proc = subprocess.Popen([python, str(NODE_SCRIPT), host],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.log, text=True, bufsize=1)
        self.lines = queue.Queue()
        self.seq = 0
        threading.Thread(target=self._read, daemon=True).start()
        try:
            hello = self._answer(0, START_TIMEOUT_S)
        except AssertionError:
            self.close()
            raise
        self.port, self.node_id = hello["port"], hello["id"]

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def _answer(self, n, timeout):
        """The answer numbered n; earlier (late) answers are skipped."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"OpenDHT node {self.proc.pid}: no answer in {timeout} s")
            if line is None:
                raise AssertionError(f"OpenDHT node {self.proc.pid} exited "
                                     f"(status {self.proc.poll()})")
            answer = json.loads(line)
            if answer.get("n") == n:
                return answer

    def ask(self, timeout, **cmd):
        self.seq += 1
        self.proc.stdin.write(json.dumps(dict(cmd, n=self.seq)) + "\n")
        self.proc.stdin.flush()
        return self._answer(self.seq, timeout)

    def close(self):
        try:
            if self.proc.poll() is None:
                self.proc.stdin.write(json.dumps({"op": "quit", "n": -1}) + "\n")
                self.proc.stdin.flush()
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(STOP_TIMEOUT_S)
        self.log.close()


def start_opendht(python, tmp, out):
    """NODES OpenDHT processes, every one bootstrapped from the first; waits until the first
    knows the others."""
    nodes = []
    try:
        for i in range(NODES):
            node = DhtNode(python, OPENDHT_HOST, tmp / f"opendht{i:02d}.log")
            nodes.append(node)
            if i:
                node.ask(10, op="boot", host=OPENDHT_HOST, port=nodes[0].port)
        # the first node's table fills as the others bootstrap; it may keep fewer than all
        # (k-buckets of 8), so it is settled when it knows all or stopped growing
        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        size, since = -1, time.monotonic()
        while size < NODES - 1 and time.monotonic() - since < SETTLE_STABLE_S:
            if time.monotonic() > deadline:
                out.line(f"(the first OpenDHT node knows {size} nodes after "
                         f"{SETTLE_TIMEOUT_S} s)")
                break
            time.sleep(0.2)
            now_size = nodes[0].ask(10, op="table")["size"]
            if now_size != size:
                size, since = now_size, time.monotonic()
    except BaseException:
        for node in nodes:
            node.close()
        raise
    return nodes


# ---- the measurement --------------------------------------------------------------------

def others(rng, count, i):
    """A random index in range(count) other than i."""
    j = rng.randrange(count - 1)
    return j + (j >= i)


def stats_sum(nodes):
    total = dict.fromkeys(STATS, 0)
    for n in nodes:
        st = n.control("stats")
        for k in STATS:
            total[k] += st.get(k, 0)
    return total


def register_names(ours, proxies, names, addrs, rng, start):
    """Registers each name through a random node; returns the index of each name's node."""
    writers = []
    for name, addr in zip(names, addrs):
        if time.monotonic() - start > DEADLINE_S / 2:
            break
        w = rng.randrange(len(ours))
        answer = proxies[w].register(xmlrpc.client.Binary(name.encode()), 33, 0,
                                     xmlrpc.client.Binary(addr.encode()), 3600)
        if answer != 0:
            raise AssertionError(f"register {name} on {ours[w].name}: {answer!r}")
        writers.append(w)
    return writers


def put_names(dht, names, addrs, rng):
    writers, ms = [], []
    for name, addr in zip(names, addrs):
        w = rng.randrange(len(dht))
        answer = dht[w].ask(DHT_TIMEOUT_S + 5, op="put", key=name, value=addr)
        if not answer["ok"]:
            raise AssertionError(f"OpenDHT put {name} through node {w}: {answer}")
        writers.append(w)
        ms.append(answer["ms"])
    return writers, ms


def resolve_once(proxy, name, addr):
    """Our cold resolve: (ms or None if it failed)."""
    t = time.perf_counter()
    try:
        answer = proxy.resolve(xmlrpc.client.Binary(name.encode()), 0)
    except (xmlrpc.client.Fault, OSError, xmlrpc.client.ProtocolError):
        return None
    ms = 1000 * (time.perf_counter() - t)
    return ms if resolve_ok(answer, addr.encode()) else None


def get_once(node, name, addr):
    """An OpenDHT get from a node that did not put the name: (ms or None if it failed)."""
    try:
        answer = node.ask(DHT_TIMEOUT_S + 5, op="get", key=name)
    except AssertionError:
        return None
    return answer["ms"] if answer["ok"] and addr in answer["values"] else None


def timed_call(fn):
    """ms of fn(), or None if it raised."""
    t = time.perf_counter()
    try:
        fn()
    except (xmlrpc.client.Fault, OSError, xmlrpc.client.ProtocolError):
        return None
    return 1000 * (time.perf_counter() - t)


def measure_parts(out, proxies, start):
    """Where a resolve's time goes: the XML-RPC round trip alone (local_lookup, answered
    from the routing table) and an overlay lookup of a fresh key (lookup), in turn through
    random nodes; a resolve is such a lookup, then FIND_VALUE to the replicas and a vote."""
    rng = random.Random(11)
    rpc_ms, lookup_ms = [], []
    for i in range(PHASE_CALLS):
        if time.monotonic() - start > DEADLINE_S:
            break
        key = xmlrpc.client.Binary(f"sip:part{i}@bench.example".encode())
        p = rng.choice(proxies)
        rpc_ms += filter(None, [timed_call(lambda: p.local_lookup(key, 5, True))])
        lookup_ms += filter(None, [timed_call(lambda: p.lookup(key, 5))])
    return rpc_ms, lookup_ms


def measure(out, ours, proxies, dht, start):
    rng = random.Random(7)
    names = [f"sip:cold{i}@bench.example" for i in range(NAMES)]
    addrs = [f"192.0.2.{i % 250}:{5060 + i}" for i in range(NAMES)]
    ours_w = register_names(ours, proxies, names, addrs, rng, start)
    dht_w, put_ms = put_names(dht, names[:len(ours_w)], addrs, rng)
    out.line(f"{'registered / put':<34} {len(ours_w)} names (OpenDHT put median "
             f"{sorted(put_ms)[len(put_ms) // 2]:.2f} ms)")
    time.sleep(0.5)
    before = stats_sum(ours)
    ours_ms, dht_ms, ours_fail, dht_fail = [], [], 0, 0
    for i, (name, addr) in enumerate(zip(names, addrs)):
        if i >= len(ours_w) or time.monotonic() - start > DEADLINE_S:
            break
        reader, getter = proxies[others(rng, len(ours), ours_w[i])], \
            dht[others(rng, len(dht), dht_w[i])]
        if i % 2 == 0:          # who goes first alternates
            r_ms = resolve_once(reader, name, addr)
            g_ms = get_once(getter, name, addr)
        else:
            g_ms = get_once(getter, name, addr)
            r_ms = resolve_once(reader, name, addr)
        if r_ms is None:
            ours_fail += 1
        else:
            ours_ms.append(r_ms)
        if g_ms is None:
            dht_fail += 1
        else:
            dht_ms.append(g_ms)
    after = stats_sum(ours)
    rpc_ms, lookup_ms = measure_parts(out, proxies, start)
    return (ours_ms, dht_ms, ours_fail, dht_fail, {k: after[k] - before[k] for k in STATS},
            rpc_ms, lookup_ms)


def report_parts(out, ours_ms, rpc_ms, lookup_ms):
    if not rpc_ms or not lookup_ms:
        return
    med = statistics.median
    out.line(f"{'p2pnsd XML-RPC round trip alone':<34} {len(rpc_ms):5d} ops  median "
             f"{med(rpc_ms):7.2f} ms  p99 {pct(rpc_ms, 99):7.2f} ms  (local_lookup)")
    out.line(f"{'p2pnsd lookup alone (XML-RPC)':<34} {len(lookup_ms):5d} ops  median "
             f"{med(lookup_ms):7.2f} ms  p99 {pct(lookup_ms, 99):7.2f} ms  (lookup, fresh keys)")
    out.line(f"{'  so a cold resolve (medians)':<34} {med(rpc_ms):.2f} ms XML-RPC + "
             f"{med(lookup_ms) - med(rpc_ms):.2f} ms lookup + "
             f"{med(ours_ms) - med(lookup_ms):.2f} ms FIND_VALUE round and vote")
    out.figure("p2pnsd XML-RPC round trip median", round(med(rpc_ms), 3), "ms")
    out.figure("p2pnsd lookup median", round(med(lookup_ms), 3), "ms")
    out.figure("p2pnsd lookup p99", round(pct(lookup_ms, 99), 3), "ms")


def report(out, ours_ms, dht_ms, ours_fail, dht_fail, delta, rpc_ms, lookup_ms):
    if ours_ms:
        out.latency("p2pnsd cold resolve", "p2pnsd resolve, cache off (XML-RPC)", ours_ms,
                    "resolve_cold")
    if dht_ms:
        out.latency("OpenDHT get", "OpenDHT get (get() to done)", dht_ms, "opendht_get")
    n = len(ours_ms) + ours_fail
    out.line(f"{'failed: resolves / gets':<34} {ours_fail} of {n} / {dht_fail} of "
             f"{len(dht_ms) + dht_fail}")
    out.figure("p2pnsd cold resolve failures", ours_fail, "calls")
    out.figure("OpenDHT get failures", dht_fail, "calls")
    if n:
        per = {k: v / n for k, v in delta.items()}
        out.line(f"{'per resolve (all 20 p2pnsd)':<34} {per['tx']:.1f} datagrams, "
                 f"{per['lookups_started']:.2f} lookups, {per['handshakes_started']:.2f} "
                 f"handshakes started / {per['handshakes_done']:.2f} done, "
                 f"{per['rpcs_timed_out']:.2f} RPC timeouts")
        drops = ", ".join(f"{k} {v}" for k, v in delta.items() if k.startswith("dropped")
                          or k == "cookies_sent")
        out.line(f"{'  during the resolves, in all':<34} {drops}")
        out.figure("p2pnsd datagrams per resolve", round(per["tx"], 1), "datagrams")
        out.figure("p2pnsd handshakes per resolve", round(per["handshakes_started"], 2),
                   "handshakes")
    if ours_ms:
        report_parts(out, ours_ms, rpc_ms, lookup_ms)
    if not ours_ms or not dht_ms:
        return
    ratio = statistics.median(ours_ms) / statistics.median(dht_ms)
    p99 = pct(ours_ms, 99) / pct(dht_ms, 99)
    verdict = "PASS" if ratio <= TARGET else "BELOW"
    out.line(f"{'median ratio p2pnsd / OpenDHT':<34} {ratio:9.2f}  (target <= {TARGET})  "
             f"{verdict}")
    out.line(f"{'p99 ratio p2pnsd / OpenDHT':<34} {p99:9.2f}")
    out.figure("median ratio p2pnsd / OpenDHT", round(ratio, 3), "x", "<=", TARGET)
    out.figure("p99 ratio p2pnsd / OpenDHT", round(p99, 3), "x")


def main():
    out = Output("resolve_opendht", parse_args(__doc__))
    start = time.monotonic()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("bench_resolve_opendht: terminated"))
    binary = str(build_dir() / "bin" / "p2pnsd")
    support, why = daemon_support(binary)
    if support is None:
        raise SystemExit(f"bench_resolve_opendht: {why}")
    python = opendht_python()
    if python is None:
        raise SystemExit("bench_resolve_opendht: no python3 here imports opendht "
                         "(apt-get install python3-opendht)")
    cache_off = ["--cache-size", "0"] if "--cache-size" in support else []
    broken = []
    with tempfile.TemporaryDirectory(prefix="p2pns-bench-cold-") as tmpdir:
        tmp = pathlib.Path(tmpdir)
        ns = NodeSet(binary, tmp)
        dht = []
        try:
            ours = Overlay(ns).start(NODES, seed=5, hosts=True, extra=cache_off)
            wait_settled(ours)
            dht = start_opendht(python, tmp, out)
            time.sleep(1.0)
            proxies = [n.proxy(RPC_TIMEOUT_S) for n in ours]
            for p in proxies:
                p.status()          # the keep-alive connection, opened before timing
            how = "cache off (--cache-size 0)" if cache_off else "names new to the node"
            out.line(f"== cold resolve on {NODES} p2pnsd processes (127.0.0.10-{9 + NODES}, "
                     f"{how}) next to get on {NODES} OpenDHT processes ({OPENDHT_HOST}), "
                     f"one call at a time, in turn")
            results = measure(out, ours, proxies, dht, start)
            report(out, *results)
            if results[2]:          # OpenDHT's failures are reported, not ours to fail on
                broken.append(f"{results[2]} cold resolves failed")
        finally:
            try:
                for node in dht:
                    node.close()
            finally:
                ns.close()
    out.line(f"{'total time':<34} {time.monotonic() - start:9.1f} s  (load average "
             f"{os.getloadavg()[0]:.2f})")
    if broken:
        raise SystemExit("bench_resolve_opendht: " + "; ".join(broken))


if __name__ == "__main__":
    main()
