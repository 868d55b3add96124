"""The NSS hosts module (libnss_p2pns.so.2) in real programs: inside a private mount namespace
whose /etc/nsswitch.conf says "hosts: files p2pns", `getent` and Python's getaddrinfo resolve
names registered in an overlay of p2pnsd processes (HITs, IPv6, IPv4); unknown names, a
stopped node and a node that never answers fail fast; names outside the suffix cause no I/O.
The module is also called directly (ctypes, in a child process) against a fake node sending
hostile answers: it returns an error status and never crashes. The machine's own
/etc/nsswitch.conf is never touched."""
import hashlib
import json
import os
import pathlib
import random
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import xmlrpc.client

import pytest

from conftest import ROOT, NodeSet, build_dir

B = xmlrpc.client.Binary
NSSWITCH = pathlib.Path("/etc/nsswitch.conf")
FAST = 1.0              # seconds: an unknown name, a stopped node
HARD_TIMEOUT = 0.7      # seconds: a node that never answers (the module's limit is 500 ms)

# NSS statuses and h_errno values (nss.h, netdb.h)
TRYAGAIN, UNAVAIL, NOTFOUND, SUCCESS = -2, -1, 0, 1
NETDB_INTERNAL, NETDB_SUCCESS, HOST_NOT_FOUND, TRY_AGAIN, NO_RECOVERY, NO_DATA = -1, 0, 1, 2, 3, 4
ERANGE = 34


# ---- the module and the namespace -----------------------------------------------------------

@pytest.fixture(scope="module")
def module_path() -> pathlib.Path:
    """Builds the module (a no-op when it is up to date) and returns its path."""
    build = build_dir()
    so = build / "lib" / "libnss_p2pns.so.2"
    try:
        rel = build.resolve().relative_to(ROOT / "build")
    except ValueError:
        rel = None
    if rel is not None and len(rel.parts) == 1:
        variant = rel.parts[0]
        cc = variant[:-len("-san")] if variant.endswith("-san") else variant
        san = "1" if variant.endswith("-san") else "0"
        r = subprocess.run(["make", "--no-print-directory", f"CC={cc}", f"SAN={san}",
                            f"build/{variant}/lib/libnss_p2pns.so.2"], cwd=ROOT,
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, f"building the NSS module failed:\n{r.stdout}{r.stderr}"
    assert so.is_file(), f"{so} not built"
    return so


def file_hash(path) -> str:
    return hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def nsdir(tmp_path_factory, module_path):
    """A directory with the test nsswitch.conf; skips when this machine cannot make a private
    mount namespace. Checks afterwards that the real /etc/nsswitch.conf is unchanged."""
    if shutil.which("unshare") is None:
        pytest.skip("no unshare(1) on this machine (util-linux)")
    r = subprocess.run(["unshare", "-m", "true"], capture_output=True, text=True, timeout=10)
    if r.returncode != 0:
        if re.search(r"Operation not permitted|Permission denied", r.stderr):
            pytest.skip(f"no permission for a private mount namespace (unshare -m): "
                        f"{r.stderr.strip()}")
        raise AssertionError(f"unshare -m failed: {r.stderr}")
    before = file_hash(NSSWITCH)
    d = tmp_path_factory.mktemp("nss")
    (d / "nsswitch.conf").write_text("hosts: files p2pns\n")
    yield d
    assert file_hash(NSSWITCH) == before, "/etc/nsswitch.conf changed"


# Inside the namespace: our nsswitch.conf over the real one and, if the machine has an nscd,
# an empty directory over its socket, so that every lookup goes through the module.
NS_SCRIPT = ('mount --bind "$0" /etc/nsswitch.conf || exit 99; '
             'for d in /run/nscd /var/run/nscd; do '
             '[ -d "$d" ] && { mount -t tmpfs none "$d" || exit 99; }; done; exec "$@"')


def in_namespace(nsdir, module_path, conf, *cmd, timeout=15):
    """Runs cmd with the module and conf (an nss.conf path); (exit status, stdout, seconds)."""
    env = dict(os.environ, P2PNS_NSS_CONF=str(conf),
               LD_LIBRARY_PATH=str(module_path.parent), LC_ALL="C")
    start = time.monotonic()
    r = subprocess.run(["unshare", "-m", "sh", "-c", NS_SCRIPT, str(nsdir / "nsswitch.conf"),
                        *cmd], env=env, capture_output=True, text=True, timeout=timeout)
    elapsed = time.monotonic() - start
    assert r.returncode != 99, f"setting up the namespace failed: {r.stderr}"
    return r.returncode, r.stdout, elapsed


def write_conf(directory, name, url, extra=""):
    path = pathlib.Path(directory) / name
    path.write_text(f"# test configuration\nurl {url}\nsuffix .p2p\n{extra}")
    return path


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ahosts(out) -> set:
    return {line.split()[0] for line in out.splitlines() if line.strip()}


# ---- the overlay ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def overlay(p2pnsd, tmp_path_factory):
    """Three nodes; alice.p2p (HIT and IPv4) and bob.p2p (IPv6) registered through the first,
    resolvable through the others."""
    ns = NodeSet(p2pnsd, tmp_path_factory.mktemp("nss-overlay"))
    try:
        started = []
        for _ in range(3):
            started.append(ns.new(rpc=True).start(bootstrap=started[-2:]))
        a = started[0].proxy()
        assert a.register(B(b"alice.p2p"), 55, 0, B(b"2001:10::7a1:ce"), 600) == 0
        assert a.register(B(b"alice.p2p"), 1, 0, B(b"192.0.2.7"), 600) == 0
        assert a.register(B(b"alice.p2p"), 33, 0, B(b"192.0.2.7:5060"), 600) == 0
        assert a.register(B(b"bob.p2p"), 28, 0, B(b"2001:db8::b0b"), 600) == 0
        for node in started[1:]:
            deadline = time.monotonic() + 15
            while True:
                try:
                    if len(node.proxy().resolve(B(b"alice.p2p"), 0)) == 3 and \
                            node.proxy().resolve(B(b"bob.p2p"), 0):
                        break
                except xmlrpc.client.Fault:
                    pass
                assert time.monotonic() < deadline, f"{node.name}: records not resolvable"
                time.sleep(0.1)
        yield ns, started
    finally:
        ns.close()


@pytest.fixture(scope="module")
def node_conf(overlay, nsdir):
    """An nss.conf pointing at node B (the names were registered through node A)."""
    return write_conf(nsdir, "node-b.conf", overlay[1][1].rpc_url)


def test_getent_and_getaddrinfo_return_registered_addresses(nsdir, module_path, node_conf):
    rc, out, _ = in_namespace(nsdir, module_path, node_conf, "getent", "ahosts", "alice.p2p")
    assert rc == 0 and ahosts(out) == {"2001:10::7a1:ce", "192.0.2.7"}, out
    # getent hosts asks for AF_INET6 first, then AF_INET: the HIT
    rc, out, _ = in_namespace(nsdir, module_path, node_conf, "getent", "hosts", "alice.p2p")
    assert rc == 0 and out.split() == ["2001:10::7a1:ce", "alice.p2p"], out
    rc, out, _ = in_namespace(nsdir, module_path, node_conf, "getent", "ahostsv4", "alice.p2p")
    assert rc == 0 and ahosts(out) == {"192.0.2.7"}, out
    rc, out, _ = in_namespace(nsdir, module_path, node_conf, "getent", "ahostsv6", "alice.p2p")
    assert rc == 0 and ahosts(out) == {"2001:10::7a1:ce"}, out
    rc, out, _ = in_namespace(nsdir, module_path, node_conf, "getent", "hosts", "bob.p2p")
    assert rc == 0 and out.split() == ["2001:db8::b0b", "bob.p2p"], out
    # case-insensitive, with or without the trailing dot
    rc, out, _ = in_namespace(nsdir, module_path, node_conf, "getent", "ahosts", "Alice.P2P.")
    assert rc == 0 and ahosts(out) == {"2001:10::7a1:ce", "192.0.2.7"}, out
    # bob has no IPv4 address
    rc, out, _ = in_namespace(nsdir, module_path, node_conf, "getent", "ahostsv4", "bob.p2p")
    assert rc == 2, out

    code = ("import json, socket\n"
            "a = {i[4][0] for i in socket.getaddrinfo('alice.p2p', None)}\n"
            "b = {i[4][0] for i in socket.getaddrinfo('bob.p2p', 80, socket.AF_INET6)}\n"
            "print(json.dumps([sorted(a), sorted(b), socket.gethostbyname('alice.p2p')]))\n")
    rc, out, _ = in_namespace(nsdir, module_path, node_conf, sys.executable, "-c", code)
    assert rc == 0, out
    assert json.loads(out) == [["192.0.2.7", "2001:10::7a1:ce"], ["2001:db8::b0b"], "192.0.2.7"]


def test_unknown_name_fails_fast(nsdir, module_path, node_conf):
    for cmd in ("hosts", "ahosts"):
        rc, out, elapsed = in_namespace(nsdir, module_path, node_conf, "getent", cmd,
                                        "nobody.p2p")
        assert rc == 2 and out == "", out
        assert elapsed < FAST, f"getent {cmd} nobody.p2p took {elapsed:.3f} s"


def test_stopped_node_fails_fast(overlay, nsdir, module_path):
    ns, started = overlay
    c = ns.new(rpc=True).start(bootstrap=started[:2])
    conf = write_conf(nsdir, "node-c.conf", c.rpc_url)
    deadline = time.monotonic() + 15
    while True:             # node C can resolve alice.p2p
        rc, out, _ = in_namespace(nsdir, module_path, conf, "getent", "ahostsv4", "alice.p2p")
        if rc == 0:
            break
        assert time.monotonic() < deadline, "node C never resolved alice.p2p"
        time.sleep(0.2)
    assert ahosts(out) == {"192.0.2.7"}
    c.stop()
    for cmd in ("ahosts", "hosts"):     # getent hosts makes two calls (AF_INET6, AF_INET)
        rc, out, elapsed = in_namespace(nsdir, module_path, conf, "getent", cmd, "alice.p2p")
        assert rc == 2 and out == "", out
        assert elapsed < FAST, f"getent {cmd} with the node stopped took {elapsed:.3f} s"
    # a port nobody ever listened on
    conf = write_conf(nsdir, "closed.conf", f"http://127.0.0.1:{closed_port()}/RPC2")
    rc, _, elapsed = in_namespace(nsdir, module_path, conf, "getent", "ahosts", "alice.p2p")
    assert rc == 2 and elapsed < FAST, elapsed


# ---- a node that never answers, and fake nodes ----------------------------------------------

class SilentNode:
    """A TCP server that accepts connections and never answers; counts the connections."""

    def __init__(self, family=socket.AF_INET, host="127.0.0.1"):
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.bind((host, 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://[{host}]:{self.port}/RPC2" if ":" in host else \
            f"http://{host}:{self.port}/RPC2"
        self.accepted = 0
        self.held = []
        self.stopping = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        self.sock.settimeout(0.05)
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            self.accepted += 1
            self.held.append(conn)

    def close(self):
        self.stopping = True
        self.thread.join(2)
        for c in self.held:
            c.close()
        self.sock.close()


@pytest.fixture
def silent():
    s = SilentNode()
    yield s
    s.close()


def test_silent_node_hits_the_hard_timeout(nsdir, module_path, silent, tmp_path):
    conf = write_conf(tmp_path, "silent.conf", silent.url)
    rc, out, elapsed = in_namespace(nsdir, module_path, conf, "getent", "ahosts", "alice.p2p")
    assert rc == 2 and out == ""
    assert 0.45 < elapsed < HARD_TIMEOUT, f"getent ahosts took {elapsed:.3f} s"
    assert silent.accepted >= 1
    # timeout-ms is capped at 500 and can be shorter
    for extra, low, high in (("timeout-ms 60000\n", 0.45, 0.65), ("timeout-ms 100\n", 0.08, 0.3)):
        conf = write_conf(tmp_path, "silent-t.conf", silent.url, extra)
        res = call_module(module_path, conf, [["4", "alice.p2p", 0, 4096]])[0]
        assert res["status"] == UNAVAIL and res["h_errno"] == TRY_AGAIN, res
        assert low < res["seconds"] < high, (extra, res)


def test_names_outside_the_suffix_cause_no_io(nsdir, module_path, silent, tmp_path):
    conf = write_conf(tmp_path, "silent.conf", silent.url)
    rc, out, elapsed = in_namespace(nsdir, module_path, conf, "getent", "hosts", "localhost")
    assert rc == 0 and "localhost" in out, out          # from files
    for name in ("example.invalid", "p2p", "alice.p2p.example", "alicep2p"):
        rc, out, elapsed = in_namespace(nsdir, module_path, conf, "getent", "ahosts", name)
        assert rc == 2 and elapsed < 0.3, (name, elapsed)
    names = ["example.invalid", "p2p", ".p2p", "..p2p", "a..p2p", "alice.p2p.example",
             "alicep2p", "", "x" * 300 + ".p2p", "a.p2p.."]
    results = call_module(module_path, conf, [[fn, n, 2, 4096] for n in names
                                              for fn in ("4", "3", "2", "1")])
    for r in results:
        assert r["status"] == NOTFOUND and r["errno"] == 2 and \
            r["h_errno"] == HOST_NOT_FOUND and r["seconds"] < 0.05, r
    time.sleep(0.1)
    assert silent.accepted == 0, "the module connected for a name outside its suffix"
    if shutil.which("strace"):
        rc, out, _ = in_namespace(nsdir, module_path, conf, "strace", "-f", "-e",
                                  "trace=socket,connect", "-o", "/dev/stdout",
                                  "getent", "ahosts", "example.invalid")
        assert rc == 2 and "AF_INET" not in out, out


# The module called directly through ctypes, in a child process (a crash must not take the
# test runner with it). Input: the module's path, then JSON {conf, calls: [[function, name,
# af, buflen]]}; output: a JSON list of results. Checks that every pointer the module hands
# back points into the caller's buffer and is aligned.
WORKER = r'''
import ctypes, json, os, socket, sys, time
so = ctypes.CDLL(sys.argv[1], use_errno=True)
job = json.load(sys.stdin)
os.environ["P2PNS_NSS_CONF"] = job["conf"]

class Tuple(ctypes.Structure):
    pass
Tuple._fields_ = [("next", ctypes.POINTER(Tuple)), ("name", ctypes.c_void_p),
                  ("family", ctypes.c_int), ("addr", ctypes.c_uint32 * 4),
                  ("scopeid", ctypes.c_uint32)]
class HostEnt(ctypes.Structure):
    _fields_ = [("h_name", ctypes.c_void_p), ("h_aliases", ctypes.POINTER(ctypes.c_void_p)),
                ("h_addrtype", ctypes.c_int), ("h_length", ctypes.c_int),
                ("h_addr_list", ctypes.POINTER(ctypes.c_void_p))]

def inside(buf, n, p, size=1, align=1):
    base = ctypes.addressof(buf)
    assert p is not None and base <= p and p + size <= base + n, "pointer outside the buffer"
    assert p % align == 0, "misaligned"

out = []
for fn, name, af, buflen in job["calls"]:
    buf = ctypes.create_string_buffer(buflen) if buflen else None
    err, herr = ctypes.c_int(-99), ctypes.c_int(-99)
    res = {"name": name, "fn": fn, "addrs": []}
    t = time.monotonic()
    if fn == "4":
        pat = ctypes.POINTER(Tuple)()
        st = so._nss_p2pns_gethostbyname4_r(name.encode(), ctypes.byref(pat), buf,
                                            ctypes.c_size_t(buflen), ctypes.byref(err),
                                            ctypes.byref(herr), None)
    else:
        h = HostEnt()
        if fn == "1":
            st = so._nss_p2pns_gethostbyname_r(name.encode(), ctypes.byref(h), buf,
                                               ctypes.c_size_t(buflen), ctypes.byref(err),
                                               ctypes.byref(herr))
        elif fn == "2":
            st = so._nss_p2pns_gethostbyname2_r(name.encode(), af, ctypes.byref(h), buf,
                                                ctypes.c_size_t(buflen), ctypes.byref(err),
                                                ctypes.byref(herr))
        else:
            canon = ctypes.c_void_p()
            st = so._nss_p2pns_gethostbyname3_r(name.encode(), af, ctypes.byref(h), buf,
                                                ctypes.c_size_t(buflen), ctypes.byref(err),
                                                ctypes.byref(herr), None, ctypes.byref(canon))
    res["seconds"] = time.monotonic() - t
    res.update(status=st, errno=err.value, h_errno=herr.value)
    if st == 1 and fn == "4":
        p = pat
        while p:
            inside(buf, buflen, ctypes.cast(p, ctypes.c_void_p).value, ctypes.sizeof(Tuple),
                   ctypes.alignment(Tuple))
            t = p.contents
            inside(buf, buflen, t.name)
            res["host"] = ctypes.string_at(t.name).decode()
            fam = socket.AF_INET6 if t.family == 10 else socket.AF_INET
            raw = bytes(t.addr)[:16 if fam == socket.AF_INET6 else 4]
            res["addrs"].append(socket.inet_ntop(fam, raw))
            p = t.next
    elif st == 1:
        size = ctypes.sizeof(ctypes.c_void_p)
        inside(buf, buflen, h.h_name)
        res["host"] = ctypes.string_at(h.h_name).decode()
        if fn == "3":
            assert canon.value == h.h_name
        inside(buf, buflen, ctypes.cast(h.h_aliases, ctypes.c_void_p).value, size, size)
        assert not h.h_aliases[0]
        assert h.h_length == (16 if h.h_addrtype == 10 else 4)
        i = 0
        while True:
            inside(buf, buflen, ctypes.cast(h.h_addr_list, ctypes.c_void_p).value + i * size,
                   size, size)
            a = h.h_addr_list[i]
            if not a:
                break
            inside(buf, buflen, a, h.h_length, 4)
            res["addrs"].append(socket.inet_ntop(h.h_addrtype, ctypes.string_at(a, h.h_length)))
            i += 1
    out.append(res)
json.dump(out, sys.stdout)
'''


def call_module(module_path, conf, calls, timeout=60):
    """Calls the module's functions in a child process: a list of result dicts."""
    r = subprocess.run([sys.executable, "-c", WORKER, str(module_path)],
                       input=json.dumps({"conf": str(conf), "calls": calls}),
                       capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"the worker died (status {r.returncode}):\n{r.stderr[-3000:]}"
    return json.loads(r.stdout)


def xml_response(records=None, fault=None) -> bytes:
    """An answer as p2pnsd writes it: records [(address bytes, kind, id)] or a fault code."""
    if fault is not None:
        body = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<methodResponse>\r\n<fault>\r\n"
                "<value><struct>\r\n<member><name>faultCode</name>\r\n"
                f"<value><i4>{fault}</i4></value></member>\r\n"
                "<member><name>faultString</name>\r\n<value><string>Name not found: "
                "&apos;x&lt;y&apos;</string></value></member>\r\n</struct></value>\r\n"
                "</fault>\r\n</methodResponse>\r\n")
    else:
        recs = "".join(
            "<value><array><data>\r\n<value><base64>\r\n"
            f"{xmlrpc.client.base64.b64encode(a).decode()}\r\n</base64></value>\r\n"
            f"<value><i4>{k}</i4></value>\r\n<value><i4>{i}</i4></value>\r\n"
            "</data></array></value>\r\n" for a, k, i in records)
        body = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<methodResponse>\r\n<params>\r\n"
                f"<param><value><array><data>\r\n{recs}</data></array></value></param>\r\n"
                "</params>\r\n</methodResponse>\r\n")
    return body.encode()


def http(body: bytes, status="200 OK", length=None, extra=b"") -> bytes:
    n = len(body) if length is None else length
    return (f"HTTP/1.1 {status}\r\nConnection: close\r\nContent-Type: text/xml\r\n"
            f"Content-Length: {n}\r\n").encode() + extra + b"\r\n" + body


GOOD = [(b"192.0.2.7", 1, 0), (b"192.0.2.7:5060", 33, 0), (b"2001:db8::7", 28, 0),
        (b"2001:10::7a1:ce", 55, 0)]


def hostile_answers() -> dict:
    """name -> bytes to send (or a callable given the connection)."""
    good = xml_response(GOOD)
    nested = b"<value><array><data>" * 2000
    many = [(f"10.0.{i // 256}.{i % 256}".encode(), 1, i) for i in range(400)]
    huge = [(b"192.0.2.1", 1, i) for i in range(1000)]
    answers = {
        "good.p2p": http(good),
        "nolength.p2p": b"HTTP/1.0 200 OK\r\nContent-Type: text/xml\r\n\r\n" + good,
        "fault9.p2p": http(xml_response(fault=9)),
        "fault22.p2p": http(xml_response(fault=22)),
        "nocode.p2p": http(xml_response(fault=9).replace(b"faultCode", b"faultKode")),
        "trunc.p2p": http(good[:len(good) // 2]),
        "shortbody.p2p": http(good, length=len(good) + 10),
        "longbody.p2p": http(good, length=len(good) - 10),
        "badlength.p2p": http(good, length="12x"),
        "twolengths.p2p": http(good, extra=b"Content-Length: 5\r\n"),
        "chunked.p2p": http(good, extra=b"Transfer-Encoding: chunked\r\n"),
        "http500.p2p": http(good, status="500 Internal Server Error"),
        "http200x.p2p": http(good, status="2000 OK"),
        "noheaderend.p2p": b"HTTP/1.1 200 OK\r\nContent-Length: 5",
        "empty.p2p": b"",
        "garbage.p2p": bytes(random.Random(1).randrange(256) for _ in range(3000)),
        "huge.p2p": http(xml_response(huge)),                   # over 64 KiB
        "many.p2p": http(xml_response(many)),                   # keeps 16 addresses
        "badb64.p2p": http(xml_response(GOOD).replace(b"MTkyLjAuMi43", b"MTky!jAuMi43")),
        "badpad.p2p": http(xml_response(GOOD).replace(b"MTkyLjAuMi43", b"MTkyLjAuMi4=3")),
        "longaddr.p2p": http(xml_response([(b"1" * 5000, 1, 0), (b"192.0.2.9", 1, 1)])),
        "nul.p2p": http(xml_response([(b"192.0.2.7\0junk", 1, 0)])),
        "bogus.p2p": http(xml_response([(b"999.1.1.1", 1, 0), (b"192.0.2.7:80", 1, 1),
                                        (b"2001:db8::1", 1, 2), (b"192.0.2.7", 28, 3),
                                        (b"", 55, 4), (b" 192.0.2.7", 1, 5)])),
        "bigint.p2p": http(xml_response(GOOD).replace(b"<i4>55</i4>", b"<i4>99999999999</i4>")),
        "string.p2p": http(xml_response(GOOD).replace(b"<i4>1</i4>", b"<string>1</string>")),
        "nested.p2p": http(b"<?xml version=\"1.0\"?><methodResponse><params><param>" + nested),
        "trailing.p2p": http(good + b"<methodResponse>"),
        "emptyarray.p2p": http(xml_response([])),
        "dup.p2p": http(xml_response([(b"192.0.2.7", 1, 0), (b"192.0.2.7", 1, 1)])),
        "hitonly.p2p": http(xml_response([(b"2001:10::1", 55, 0)])),
        "trickle.p2p": lambda conn: trickle(conn, http(good)),
    }
    rng = random.Random(7)
    base = http(good)
    for i in range(150):
        b = bytearray(base)
        for _ in range(rng.randrange(1, 6)):
            op, at = rng.randrange(3), rng.randrange(len(b))
            if op == 0:
                b[at] = rng.randrange(256)
            elif op == 1:
                del b[at:at + rng.randrange(1, 40)]
            else:
                b[at:at] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40)))
        answers[f"mut{i}.p2p"] = bytes(b)
    return answers


def trickle(conn, data):
    for i in range(len(data)):
        try:
            conn.sendall(data[i:i + 1])
        except OSError:
            return
        time.sleep(0.02)


class FakeNode:
    """Answers each request with the bytes chosen by the name asked for, then closes."""

    def __init__(self, answers):
        self.answers = answers
        self.requests = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/RPC2"
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        with conn:
            conn.settimeout(2)
            data = b""
            try:
                while b"</methodCall>" not in data:
                    chunk = conn.recv(4096)
                    if not chunk:
                        return
                    data += chunk
            except OSError:
                return
            self.requests.append(data)
            m = re.search(rb"<base64>([^<]*)</base64>", data)
            name = xmlrpc.client.base64.b64decode(m.group(1)).decode() if m else ""
            answer = self.answers.get(name, http(xml_response(fault=9)))
            try:
                if callable(answer):
                    answer(conn)
                else:
                    conn.sendall(answer)
            except OSError:
                pass

    def close(self):
        self.sock.close()


@pytest.fixture
def fake():
    f = FakeNode(hostile_answers())
    yield f
    f.close()


def test_request_is_one_http_post_of_resolve(module_path, fake, tmp_path):
    conf = write_conf(tmp_path, "fake.conf", fake.url)
    res = call_module(module_path, conf, [["4", "Good.P2P.", 0, 4096]])[0]
    assert res["status"] == SUCCESS, res
    assert res["host"] == "good.p2p"
    assert res["addrs"] == ["2001:10::7a1:ce", "2001:db8::7", "192.0.2.7"]     # HITs first
    req = fake.requests[-1]
    head, body = req.split(b"\r\n\r\n", 1)
    assert head.startswith(b"POST /RPC2 HTTP/1.0\r\n")
    assert f"Content-Length: {len(body)}".encode() in head
    assert b"<methodName>resolve</methodName>" in body
    assert b"<base64>Z29vZC5wMnA=</base64>" in body          # "good.p2p"
    assert b"<int>0</int>" in body


def test_hostent_functions_fill_the_callers_buffer(module_path, fake, tmp_path):
    conf = write_conf(tmp_path, "fake.conf", fake.url)
    calls = [["2", "good.p2p", 10, 4096], ["2", "good.p2p", 2, 4096], ["1", "good.p2p", 2, 4096],
             ["3", "good.p2p", 10, 4096], ["2", "hitonly.p2p", 2, 4096],
             ["2", "good.p2p", 17, 4096], ["4", "nolength.p2p", 0, 4096]]
    # buffers too small: ERANGE with NETDB_INTERNAL, glibc retries with a bigger one
    calls += [[fn, "good.p2p", 10, n] for fn in ("4", "2") for n in (0, 1, 8, 40, 70)]
    calls += [[fn, "many.p2p", 2, 200] for fn in ("4", "1")]
    r = call_module(module_path, conf, calls)
    assert r[0]["status"] == SUCCESS and r[0]["addrs"] == ["2001:10::7a1:ce", "2001:db8::7"]
    assert r[1]["status"] == SUCCESS and r[1]["addrs"] == ["192.0.2.7"]
    assert r[2]["status"] == SUCCESS and r[2]["addrs"] == ["192.0.2.7"]
    assert r[3]["status"] == SUCCESS and r[3]["host"] == "good.p2p"
    assert (r[4]["status"], r[4]["h_errno"]) == (NOTFOUND, NO_DATA), r[4]
    assert (r[5]["status"], r[5]["errno"]) == (UNAVAIL, 97), r[5]       # EAFNOSUPPORT
    assert r[6]["status"] == SUCCESS and len(r[6]["addrs"]) == 3, r[6]
    for res in r[7:]:
        assert (res["status"], res["errno"], res["h_errno"]) == (TRYAGAIN, ERANGE,
                                                                 NETDB_INTERNAL), res


def test_hostile_answers_give_an_error_never_a_crash(module_path, fake, tmp_path):
    conf = write_conf(tmp_path, "fake.conf", fake.url)
    names = list(fake.answers)
    calls = [[fn, n, 2 if fn != "4" else 0, 8192] for n in names
             for fn in (("4", "2") if n != "trickle.p2p" else ("4",))]
    start = time.monotonic()
    results = {(r["name"], r["fn"]): r for r in call_module(module_path, conf, calls)}
    elapsed = time.monotonic() - start

    def status(name, fn="4"):
        r = results[(name, fn)]
        return r["status"], r["h_errno"]

    bad = (UNAVAIL, NO_RECOVERY)
    assert status("good.p2p") == (SUCCESS, NETDB_SUCCESS)
    assert status("nolength.p2p") == (SUCCESS, NETDB_SUCCESS)
    assert status("fault9.p2p") == (NOTFOUND, HOST_NOT_FOUND)
    assert status("fault22.p2p") == (UNAVAIL, TRY_AGAIN)
    for name in ("nocode", "trunc", "shortbody", "longbody", "badlength", "twolengths",
                 "chunked", "http500", "http200x", "noheaderend", "empty", "garbage", "huge",
                 "badb64", "badpad", "bigint", "string", "nested", "trailing"):
        for fn in ("4", "2"):
            assert status(f"{name}.p2p", fn) == bad, (name, fn, results[(f"{name}.p2p", fn)])
    assert status("trickle.p2p") == (UNAVAIL, TRY_AGAIN)
    assert results[("trickle.p2p", "4")]["seconds"] < HARD_TIMEOUT
    r = results[("many.p2p", "4")]
    assert r["status"] == SUCCESS and len(r["addrs"]) == 16 and r["addrs"][0] == "10.0.0.0"
    assert results[("longaddr.p2p", "2")]["addrs"] == ["192.0.2.9"]
    for name in ("nul", "bogus", "emptyarray"):
        assert status(f"{name}.p2p") == (NOTFOUND, NO_DATA), name
    assert results[("dup.p2p", "2")]["addrs"] == ["192.0.2.7"]
    for (name, fn), r in results.items():
        assert r["status"] in (SUCCESS, NOTFOUND, UNAVAIL), r
        if name.startswith("mut") and r["status"] == SUCCESS:
            assert set(r["addrs"]) <= {"192.0.2.7", "2001:db8::7", "2001:10::7a1:ce"}, r
    assert elapsed < 10, f"{len(calls)} calls took {elapsed:.1f} s"


def test_broken_configuration_is_unavail_without_io(module_path, silent, tmp_path):
    cases = ["url http://localhost:3631/RPC2\n",            # a host name: no DNS from here
             f"url https://127.0.0.1:{silent.port}/RPC2\n",
             f"url http://127.0.0.1:{silent.port}/RP C2\n",
             "url http://127.0.0.1:99999/RPC2\n",
             "suffix .p..2p\n", "timeout-ms 0\n", "timeout-ms soon\n", "colour blue\n",
             "url\n"]
    for i, text in enumerate(cases):
        conf = tmp_path / f"bad{i}.conf"
        conf.write_text(text)
        r = call_module(module_path, conf, [["4", "alice.p2p", 0, 4096]])[0]
        assert (r["status"], r["h_errno"]) == (UNAVAIL, NO_RECOVERY), (text, r)
    # a directory is no configuration file; a missing one means the defaults
    r = call_module(module_path, tmp_path, [["4", "example.invalid", 0, 4096]])[0]
    assert r["status"] == UNAVAIL, r
    r = call_module(module_path, tmp_path / "none.conf", [["4", "example.invalid", 0, 4096]])[0]
    assert (r["status"], r["h_errno"]) == (NOTFOUND, HOST_NOT_FOUND), r
    ok = tmp_path / "ok.conf"
    ok.write_text(f"  # comment\n\nurl   http://[::1]:{closed_port()}/RPC2  \nsuffix P2P.\n"
                  "timeout-ms 200\n")
    r = call_module(module_path, ok, [["2", "alice.p2p", 10, 4096], ["2", "x.example", 10, 4096]])
    assert (r[0]["status"], r[0]["h_errno"]) == (UNAVAIL, TRY_AGAIN), r[0]
    assert r[1]["status"] == NOTFOUND, r[1]
    time.sleep(0.1)
    assert silent.accepted == 0
