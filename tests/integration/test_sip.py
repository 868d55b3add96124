"""SIP through P2PNS end to end: two p2pnsd nodes, each with its own Kamailio running
tools/kamailio/kamailio.cfg (http_client + xmlops talking XML-RPC to its node), and sipp
user agents with the scenarios of tools/kamailio/. A UA registers alice through proxy A,
a caller reaches her through proxy B (INVITE, 180, 200, ACK, BYE along the Record-Route
set); unknown users get 404, removed registrations are gone, and a proxy whose node is
down answers 503. Everything runs on 127.0.0.1 and every step is bounded in time."""
import glob
import hashlib
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import time
import uuid
import xmlrpc.client

import pytest

from conftest import ROOT, NodeSet, free_udp_port, wait_settled

B = xmlrpc.client.Binary
TOOLS = ROOT / "tools" / "kamailio"
CFG = TOOLS / "kamailio.cfg"
DOMAIN = "p2p.example"
MODULES = ("tm", "sl", "rr", "pv", "maxfwd", "textops", "siputils", "xlog", "sanity",
           "http_client", "xmlops")
# signs of a broken config: failed assignments, bad transformations, parse errors
CFG_BUG_SIGNS = ("lval_assign", "non existing right pvar", "tr_eval", "parse error",
                 "bad transformation", "CRITICAL")


def _which(name):
    return shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")


KAMAILIO = _which("kamailio")
SIPP = _which("sipp")


def module_dir():
    """The directory holding every module the config loads (Debian: multiarch path)."""
    for d in sorted(glob.glob("/usr/lib/*/kamailio/modules")) + [
            "/usr/lib/kamailio/modules", "/usr/lib64/kamailio/modules",
            "/usr/local/lib/kamailio/modules", "/usr/local/lib64/kamailio/modules"]:
        if all(os.path.exists(os.path.join(d, m + ".so")) for m in MODULES):
            return d
    return None


def missing_capability():
    """Why this machine cannot run the test, or None."""
    if KAMAILIO is None:
        return "kamailio is not installed (Debian package kamailio)"
    if SIPP is None:
        return "sipp is not installed (Debian package sip-tester)"
    if module_dir() is None:
        return ("Kamailio modules missing: need " + ", ".join(MODULES) + " (Debian packages "
                "kamailio, kamailio-utils-modules for http_client, kamailio-xml-modules for "
                "xmlops)")
    return None


pytestmark = pytest.mark.skipif(missing_capability() is not None,
                                reason=missing_capability() or "")

# no HTTP proxy of the environment between Kamailio (libcurl) and its node
CLEAN_ENV = {k: v for k, v in os.environ.items()
             if k.lower() not in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")}


def sip_options(port, timeout=0.3):
    """Sends OPTIONS to the proxy on 127.0.0.1:port; True when it answers 200."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        s.settimeout(timeout)
        lport = s.getsockname()[1]
        msg = (f"OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\n"
               f"Via: SIP/2.0/UDP 127.0.0.1:{lport};branch=z9hG4bK{uuid.uuid4().hex}\r\n"
               f"Max-Forwards: 70\r\n"
               f"From: <sip:probe@127.0.0.1>;tag=probe\r\n"
               f"To: <sip:127.0.0.1:{port}>\r\n"
               f"Call-ID: {uuid.uuid4().hex}@127.0.0.1\r\n"
               f"CSeq: 1 OPTIONS\r\n"
               f"Content-Length: 0\r\n\r\n")
        s.sendto(msg.encode(), ("127.0.0.1", port))
        try:
            data, _ = s.recvfrom(65535)
        except OSError:
            return False
        return data.startswith(b"SIP/2.0 200 ")


def udp_port_taken(port):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
        return False


class Kamailio:
    """One Kamailio in the foreground (-DD) in its own process group, logging to a file."""

    def __init__(self, workdir: pathlib.Path, name: str, node_url: str):
        self.name = name
        self.node_url = node_url
        self.rundir = workdir / name
        self.rundir.mkdir()
        self.logpath = workdir / f"{name}.log"
        self.proc = None
        self.port = None

    def log(self) -> str:
        try:
            return self.logpath.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def args(self, port):
        return [KAMAILIO, "-f", str(CFG), "-DD", "-E", "-n", "2", "-m", "32", "-M", "8",
                "-Y", str(self.rundir), "-w", str(self.rundir),
                "-P", str(self.rundir / "kamailio.pid"), "-L", module_dir(),
                "-A", f"P2PNS_LISTEN=udp:127.0.0.1:{port}",
                "-A", f'P2PNS_NODE_URL="{self.node_url}"',
                "-A", "P2PNS_HTTP_TIMEOUT=2"]

    def start(self, timeout=10.0, retries=3):
        for _ in range(retries):
            port = free_udp_port()
            with open(self.logpath, "a") as logf:
                logf.write(f"==== {' '.join(self.args(port))}\n")
                logf.flush()
                self.proc = subprocess.Popen(self.args(port), stdin=subprocess.DEVNULL,
                                             stdout=logf, stderr=subprocess.STDOUT,
                                             env=CLEAN_ENV, start_new_session=True)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and self.proc.poll() is None:
                if sip_options(port):
                    self.port = port
                    return self
                time.sleep(0.05)
            self.stop()
            if "Address already in use" not in self.log():
                break
        raise AssertionError(f"{self.name}: no answer to OPTIONS:\n{self.log()[-3000:]}")

    @property
    def addr(self):
        return f"127.0.0.1:{self.port}"

    def stop(self):
        """SIGTERM to the whole process group (Kamailio forks workers), then SIGKILL."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)    # workers left behind, if any
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            pass
        self.proc = None

    def check_config_ran_clean(self):
        text = self.log()
        for sign in CFG_BUG_SIGNS:
            assert sign not in text, f"{self.name}: '{sign}' in the log:\n{text[-3000:]}"


class Sipp:
    """sipp runs with one of the scenarios of tools/kamailio/, on 127.0.0.1, one call."""

    def __init__(self, workdir: pathlib.Path):
        self.workdir = workdir
        self.count = 0
        self.procs = []

    def args(self, scenario, port, service, remote=None, keys=(), limit=20, domain=DOMAIN):
        self.count += 1
        tag = f"{self.count:02d}-{scenario.removesuffix('.xml')}"
        args = [SIPP, "-sf", str(TOOLS / scenario), "-i", "127.0.0.1", "-bind_local",
                "-mi", "127.0.0.1", "-p", str(port),
                "-s", service, "-key", "domain", domain, "-m", "1", "-nostdin",
                "-timeout", f"{limit}s", "-timeout_error", "-max_retrans", "5",
                "-trace_msg", "-message_file", str(self.workdir / f"{tag}.messages"),
                "-trace_err", "-error_file", str(self.workdir / f"{tag}.errors")]
        for k, v in keys:
            args += ["-key", k, str(v)]
        if remote is not None:
            args.append(remote)
        return tag, args

    def report(self, tag):
        out = []
        for suffix in ("out", "errors", "messages"):
            p = self.workdir / f"{tag}.{suffix}"
            if p.exists():
                out.append(f"--- {p.name}\n{p.read_text(errors='replace')[-4000:]}")
        return "\n".join(out)

    def start(self, scenario, port, service, remote=None, keys=(), limit=20, domain=DOMAIN):
        tag, args = self.args(scenario, port, service, remote, keys, limit, domain)
        out = open(self.workdir / f"{tag}.out", "w")
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, cwd=self.workdir, env=CLEAN_ENV,
                                start_new_session=True)
        out.close()
        self.procs.append(proc)
        return tag, proc

    def wait(self, tag, proc, limit=20):
        try:
            rc = proc.wait(limit + 10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise AssertionError(f"sipp {tag} did not finish:\n{self.report(tag)}")
        assert rc == 0, f"sipp {tag}: exit status {rc}:\n{self.report(tag)}"

    def run(self, scenario, port, service, remote, keys=(), limit=20, domain=DOMAIN):
        tag, proc = self.start(scenario, port, service, remote, keys, limit, domain)
        self.wait(tag, proc, limit)

    def close(self):
        for proc in self.procs:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait()


@pytest.fixture(scope="module")
def sip(p2pnsd, tmp_path_factory):
    """Node A and node B (one overlay), proxy A on node A, proxy B on node B, sipp."""
    work = tmp_path_factory.mktemp("sip")
    ns = NodeSet(p2pnsd, work)
    proxies = []
    sipp = Sipp(work)
    try:
        node_a = ns.new("node-a", rpc=True)
        node_a.start(extra=["--cache-ttl", "1"])
        node_b = ns.new("node-b", rpc=True)
        node_b.start(bootstrap=[node_a], extra=["--cache-ttl", "1"])
        wait_settled([node_a, node_b], min_contacts=1, timeout=15)
        proxy_a = Kamailio(work, "kamailio-a", node_a.rpc_url)
        proxies.append(proxy_a)
        proxy_a.start()
        proxy_b = Kamailio(work, "kamailio-b", node_b.rpc_url)
        proxies.append(proxy_b)
        proxy_b.start()
        yield {"node_a": node_a, "node_b": node_b, "proxy_a": proxy_a, "proxy_b": proxy_b,
               "sipp": sipp}
        for p in proxies:
            p.check_config_ran_clean()
    finally:
        sipp.close()
        for p in proxies:
            p.stop()
        ns.close()


def resolve_until(node, name, want, timeout=10.0):
    """resolve(name, 33) on node until its addresses are want (a list of bytes; [] for
    fault 9); the nodes' cache TTL is 1 s."""
    deadline = time.monotonic() + timeout
    got = None
    while True:
        try:
            got = [bytes(a.data) for a, _k, _i in node.proxy(timeout=15).resolve(name, 33)]
        except xmlrpc.client.Fault as f:
            got = [] if f.faultCode == 9 else f
        if got == want or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert got == want, f"resolve {name!r} on {node.name}: wanted {want}, got {got}"


def register(sip, user, port, expires, proxy="proxy_a", domain=DOMAIN):
    sip["sipp"].run("sipp-register.xml", port, user, sip[proxy].addr,
                    keys=[("expires", expires)], limit=10, domain=domain)


def test_register_through_a_call_through_b(sip):
    sipp = sip["sipp"]
    uas_port, uac_port = free_udp_port(), free_udp_port()
    # the callee registers from the address it will answer on: the binding goes into
    # the overlay, under the AoR, with the registration's expiry as TTL
    register(sip, "alice", uas_port, 300)
    contact = f"127.0.0.1:{uas_port}".encode()
    resolve_until(sip["node_b"], "sip:alice@p2p.example", [contact])
    resolve_until(sip["node_a"], "sip:alice@p2p.example", [contact])
    # the replicas hold the record with the registration's expiry as TTL
    key = hashlib.sha1(b"sip:alice@p2p.example").hexdigest()
    ttls = [r["ttl"] for node in (sip["node_a"], sip["node_b"])
            for r in node.proxy().dump_dht(1000)
            if r["key"] == key and r["kind"] == 33 and not r["removed"]]
    assert ttls and all(200 <= t <= 300 for t in ttls), ttls

    uas_tag, uas = sipp.start("sipp-uas.xml", uas_port, "alice", limit=20)
    deadline = time.monotonic() + 5
    while not udp_port_taken(uas_port):
        assert uas.poll() is None, f"sipp UAS exited:\n{sipp.report(uas_tag)}"
        assert time.monotonic() < deadline, "sipp UAS did not bind its port"
        time.sleep(0.05)
    # the caller knows only proxy B; B resolves alice through node B and relays
    sipp.run("sipp-uac.xml", uac_port, "alice", sip["proxy_b"].addr, limit=20)
    sipp.wait(uas_tag, uas, limit=20)
    log_b = sip["proxy_b"].log()
    assert f"INVITE sip:alice@p2p.example -> sip:127.0.0.1:{uas_port}" in log_b, log_b[-3000:]
    # ACK and BYE went through proxy B along the Record-Route set
    uas_msgs = next(sipp.workdir.glob(f"{uas_tag}.messages")).read_text()
    assert f"Record-Route: <sip:{sip['proxy_b'].addr};lr>" in uas_msgs
    for method in ("ACK", "BYE"):
        block = uas_msgs[uas_msgs.index(f"\n{method} "):]
        assert f"Via: SIP/2.0/UDP {sip['proxy_b'].addr};" in block.split("\n\n")[0], method


def test_unknown_user_gets_404(sip):
    sip["sipp"].run("sipp-uac-404.xml", free_udp_port(), "nobody", sip["proxy_b"].addr)
    sip["sipp"].run("sipp-uac-404.xml", free_udp_port(), "nobody", sip["proxy_a"].addr)
    assert "resolve sip:nobody@p2p.example: fault 9" in sip["proxy_b"].log()


def test_expires_zero_removes_the_binding(sip):
    port = free_udp_port()
    register(sip, "bob", port, 120)
    resolve_until(sip["node_a"], "sip:bob@p2p.example", [f"127.0.0.1:{port}".encode()])
    register(sip, "bob", port, 0)
    resolve_until(sip["node_a"], "sip:bob@p2p.example", [])
    resolve_until(sip["node_b"], "sip:bob@p2p.example", [])
    sip["sipp"].run("sipp-uac-404.xml", free_udp_port(), "bob", sip["proxy_b"].addr)
    # removing a binding that was never there is still 200 (a fault from the node)
    register(sip, "carol", free_udp_port(), 0)


def test_aor_is_normalised_and_escaped(sip):
    """The AoR is sip:USER@domain, the user %-unescaped, the domain in lower case without
    port; values travel as base64, so XML's special characters need no care."""
    port = free_udp_port()
    register(sip, "d%26%3Cx%3E", port, 60, domain="P2P.Example:5060")
    resolve_until(sip["node_b"], "sip:d&<x>@p2p.example", [f"127.0.0.1:{port}".encode()])


def test_node_down_gets_503(sip):
    """Last: stops node B. Proxy B cannot reach its node and answers 503."""
    sip["node_b"].stop()
    sip["sipp"].run("sipp-uac-503.xml", free_udp_port(), "alice", sip["proxy_b"].addr)
    assert "unreachable" in sip["proxy_b"].log()
