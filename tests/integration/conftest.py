"""Shared fixtures: where the built programs are (P2PNS_BUILD, set by the Makefile), and
p2pnsd processes (Node, NodeSet, the nodes fixture) driven through their control socket,
with helpers to build and settle an overlay (start_overlay, wait_settled) and to ask many
nodes at once (parallel)."""
import concurrent.futures
import json
import os
import pathlib
import random
import re
import signal
import socket
import subprocess
import time
import xmlrpc.client

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def build_dir() -> pathlib.Path:
    env = os.environ.get("P2PNS_BUILD")
    path = pathlib.Path(env) if env else ROOT / "build" / "gcc"
    if not (path / "bin").is_dir():
        raise RuntimeError(f"no built programs under {path}: run 'make' first")
    return path


@pytest.fixture(scope="session")
def bindir() -> pathlib.Path:
    return build_dir() / "bin"


@pytest.fixture(scope="session")
def keygen(bindir) -> str:
    return str(bindir / "p2pns-keygen")


@pytest.fixture(scope="session")
def sim(bindir) -> str:
    return str(bindir / "p2pns-sim")


# ---- p2pnsd processes ----------------------------------------------------------------------

LISTEN_RE = re.compile(r"listening on (\S+):(\d+) node-id ([0-9a-f]{40})")
RPC_RE = re.compile(r"XML-RPC on (http://\S+/RPC2)")
SANITIZER_RE = re.compile(r"ERROR: (Address|Leak|Memory|Thread)Sanitizer|runtime error:")


def free_udp_port(host: str = "127.0.0.1") -> int:
    """A UDP port nobody is bound to right now (the daemon may still lose a race for it)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class ControlError(Exception):
    pass


class TimeoutTransport(xmlrpc.client.Transport):
    """xmlrpc.client's transport with a socket timeout and an optional source address."""

    def __init__(self, timeout, source_address=None):
        super().__init__()
        self.timeout = timeout
        self.source_address = source_address

    def make_connection(self, host):
        conn = super().make_connection(host)
        conn.timeout = self.timeout
        if self.source_address is not None:
            conn.source_address = (self.source_address, 0)
        return conn


class Node:
    """One p2pnsd process with its own data directory, reached by the others at host; it
    binds binds (default: just host; () for the daemon's defaults, 0.0.0.0 and ::). Its
    stdout and stderr go to a log file (a pipe nobody reads could block the daemon)."""

    def __init__(self, binary, workdir: pathlib.Path, name: str, c1=4, c2=4,
                 host="127.0.0.1", binds=None, log_level="info", rpc=False):
        self.binary = str(binary)
        self.name = name
        self.datadir = workdir / name
        self.logpath = workdir / f"{name}.log"
        self.c1, self.c2 = c1, c2
        self.host = host
        self.binds = [host] if binds is None else list(binds)
        self.log_level = log_level
        self.proc = None
        self.port = None
        self.node_id = None
        self.starts = 0
        self.rpc = rpc              # serve XML-RPC on a free TCP port of host
        self.rpc_url = None
        if len(str(self.datadir / "control.sock")) > 100:
            raise RuntimeError(f"{self.datadir}: too long for a UNIX socket path")

    @property
    def addr(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def sock_path(self) -> pathlib.Path:
        return self.datadir / "control.sock"

    def log(self) -> str:
        try:
            return self.logpath.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def start(self, bootstrap=(), port=None, extra=(), timeout=15.0, retries=5, avoid=()):
        """Starts the daemon and waits for its 'listening on' line. Without a port, picks
        free ones (none of avoid) and retries when the bind loses a race."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        for attempt in range(retries):
            use_port = port
            while use_port is None or (port is None and use_port in avoid):
                use_port = free_udp_port(self.host)
            # -c /dev/null: no /etc/p2pns/p2pnsd.conf of this machine gets in the way
            args = [self.binary, "-c", "/dev/null", "--port", str(use_port),
                    "--data-dir", str(self.datadir),
                    "--c1", str(self.c1), "--c2", str(self.c2), "--log-level", self.log_level]
            for b in self.binds:
                args += ["--bind", b]
            rpc_host = f"[{self.host}]" if ":" in self.host else self.host
            args += ["--rpc-listen", f"{rpc_host}:0" if self.rpc else "none"]
            for b in bootstrap:
                args += ["--bootstrap", b.addr if isinstance(b, Node) else str(b)]
            args += list(extra)
            self.starts += 1
            with open(self.logpath, "a") as logf:
                logf.write(f"==== start {self.starts}: {' '.join(args)}\n")
                logf.flush()
                mark = logf.tell()
                self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=logf,
                                             stderr=subprocess.STDOUT)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                text = self.log()[mark:]
                m = LISTEN_RE.search(text)
                r = RPC_RE.search(text)
                if m and int(m.group(2)) == use_port and (r or not self.rpc):
                    self.port = use_port
                    self.node_id = m.group(3)
                    self.rpc_url = r.group(1) if r else None
                    return self
                if self.proc.poll() is not None:
                    break
                time.sleep(0.02)
            else:
                self.kill()
                raise AssertionError(f"{self.name}: no 'listening on' line within "
                                     f"{timeout} s:\n{self.log()[mark:]}")
            text = self.log()[mark:]
            self.proc = None
            if "Address already in use" in text and port is None:
                continue
            raise AssertionError(f"{self.name}: exited at start:\n{text}")
        raise AssertionError(f"{self.name}: no free port after {retries} attempts")

    def proxy(self, timeout=40.0, **kw):
        """An xmlrpc.client.ServerProxy for this node's XML-RPC server."""
        assert self.rpc_url, f"{self.name}: started without XML-RPC"
        return xmlrpc.client.ServerProxy(self.rpc_url, transport=TimeoutTransport(timeout, **kw))

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def control(self, cmd: str, timeout=15.0) -> dict:
        """Sends one command line on the control socket and returns the JSON answer."""
        deadline = time.monotonic() + timeout
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            while True:
                try:
                    s.connect(str(self.sock_path))
                    break
                except BlockingIOError:     # the listen backlog is full for a moment
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.01)
            s.sendall(cmd.encode() + b"\n")
            buf = b""
            while not buf.endswith(b"\n"):
                if time.monotonic() > deadline:
                    raise ControlError(f"{self.name}: {cmd!r}: no answer in {timeout} s")
                chunk = s.recv(1 << 16)
                if not chunk:
                    break
                buf += chunk
        if not buf:
            raise ControlError(f"{self.name}: {cmd!r}: connection closed without answer")
        return json.loads(buf)

    def rss_kb(self) -> int:
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise AssertionError("no VmRSS")

    def sanitizer_report(self):
        m = SANITIZER_RE.search(self.log())
        return self.log()[m.start():m.start() + 4000] if m else None

    def stop(self, timeout=15.0) -> int:
        """SIGTERM; waits for the exit and checks it was clean (status 0, no sanitizer
        report). Returns the exit status."""
        if self.proc is None:
            return 0
        proc = self.proc
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise AssertionError(f"{self.name}: did not exit within {timeout} s "
                                     f"of SIGTERM:\n{self.log()[-3000:]}")
        self.proc = None
        report = self.sanitizer_report()
        assert report is None, f"{self.name}: sanitizer report:\n{report}"
        assert proc.returncode == 0, \
            f"{self.name}: exit status {proc.returncode}:\n{self.log()[-3000:]}"
        return proc.returncode

    def kill(self):
        """SIGKILL (no clean exit expected); the node can be started again."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
        self.proc = None


class NodeSet:
    """Creates nodes under one directory and makes sure every process goes away."""

    def __init__(self, binary, workdir: pathlib.Path):
        self.binary = binary
        self.workdir = workdir
        self.nodes = []

    def new(self, name=None, **kw) -> Node:
        node = Node(self.binary, self.workdir, name or f"n{len(self.nodes):02d}", **kw)
        self.nodes.append(node)
        return node

    def close(self):
        """Stops every node still running (cleanly if it can) and fails on a crash or a
        sanitizer report in any log."""
        problems = []
        for node in self.nodes:
            try:
                node.stop(timeout=10)
            except AssertionError as e:
                problems.append(str(e))
            finally:
                node.kill()
        for node in self.nodes:
            report = node.sanitizer_report()
            if report is not None and not any(node.name in p for p in problems):
                problems.append(f"{node.name}: sanitizer report:\n{report}")
        if problems:
            raise AssertionError("\n\n".join(problems))


@pytest.fixture(scope="session")
def p2pnsd(bindir) -> str:
    path = bindir / "p2pnsd"
    if not path.exists():
        pytest.skip(f"{path} not built")
    return str(path)


@pytest.fixture
def nodes(p2pnsd, tmp_path):
    """A NodeSet for one test; every node is stopped (or killed) afterwards."""
    ns = NodeSet(p2pnsd, tmp_path)
    try:
        yield ns
    finally:
        ns.close()


# ---- overlays ------------------------------------------------------------------------------

def start_overlay(ns: NodeSet, count: int, seed: int, hosts: int = 0, **kw) -> list:
    """Starts count new nodes in ns, each bootstrapping from one or two earlier ones (chosen
    with a random.Random(seed)); kw goes to NodeSet.new. hosts: node i listens on
    127.0.0.(hosts + i), an address of its own as on a host of its own (the per-address
    rate limits count by host); 0: all on the default. Returns the new nodes."""
    rng = random.Random(seed)
    started = []
    for i in range(count):
        node = ns.new(**kw) if not hosts else ns.new(host=f"127.0.0.{hosts + i}", **kw)
        boots = rng.sample(started, min(i, rng.choice((1, 2)))) if i else []
        node.start(bootstrap=boots)
        started.append(node)
    return started


def wait_settled(nodes, min_contacts=5, timeout=30.0) -> dict:
    """Waits until every node's routing table holds at least min_contacts contacts; returns
    the table sizes by node name."""
    deadline = time.monotonic() + timeout
    while True:
        sizes = {n.name: n.control("table")["size"] for n in nodes}
        if all(s >= min_contacts for s in sizes.values()):
            return sizes
        if time.monotonic() > deadline:
            raise AssertionError(f"not settled after {timeout} s: table sizes {sizes}")
        time.sleep(0.1)


def parallel(fn, items, workers=8) -> list:
    """fn(item) for every item on a few threads; returns [(item, result)] in the order of
    items, result being the exception for a call that raised one."""
    items = list(items)
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = [pool.submit(fn, item) for item in items]
        out = []
        for item, fut in zip(items, futures):
            try:
                out.append((item, fut.result()))
            except Exception as e:  # a timeout or a closed connection: the caller judges
                out.append((item, e))
    return out
