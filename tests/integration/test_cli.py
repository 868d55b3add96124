"""The p2pns command-line client as a real process against real p2pnsd daemons and their
XML-RPC servers: every test checks the exit status (0 success, 2 not found, 1 any other
error), standard output and standard error as p2pns(1) describes them. Every run names its
node with --url (or P2PNS_URL), so nothing depends on this machine's port 3631 or /etc."""
import hashlib
import json
import os
import re
import socket
import subprocess
import threading
import time
import xmlrpc.client
from dataclasses import dataclass

import pytest

from conftest import ROOT, SANITIZER_RE, NodeSet, wait_settled

NODES = 4
CACHE_TTL = "1"          # seconds: lets removals made through one node show on another
RUN_TIMEOUT = 30.0       # seconds for one p2pns process (its own --timeout is set lower)
CALL_TIMEOUT = "20"      # --timeout of ordinary runs
LINE_RE = re.compile(r"^(\S+) (\d+) ([0-9a-f]{40})$")


# ---- running the client --------------------------------------------------------------------

@dataclass
class Run:
    rc: int
    out: str
    err: str
    elapsed: float


def clean_env(**extra) -> dict:
    """The environment of a run: no P2PNS_URL, no proxies, no POSIXLY_CORRECT (which would
    stop getopt from taking options after the arguments), plus extra."""
    env = {k: v for k, v in os.environ.items()
           if k != "P2PNS_URL" and k != "POSIXLY_CORRECT" and "proxy" not in k.lower()}
    env.update(extra)
    return env


@pytest.fixture(scope="session")
def cli(bindir) -> str:
    path = bindir / "p2pns"
    if not path.exists():
        pytest.skip(f"{path} not built")
    return str(path)


def p2pns(cli, url, *args, env=None, input=None, stdout=None, timeout=RUN_TIMEOUT,
          call_timeout=CALL_TIMEOUT) -> Run:
    """Runs `p2pns --url URL --timeout T ARGS...` (without --url if url is None, without
    --timeout if call_timeout is None); args may be bytes."""
    argv = [cli]
    if url is not None:
        argv += ["--url", url]
    if call_timeout is not None:
        argv += ["--timeout", call_timeout]
    argv += list(args)
    start = time.monotonic()
    proc = subprocess.run(argv, input=input, stdout=stdout if stdout else subprocess.PIPE,
                          stderr=subprocess.PIPE, env=clean_env() if env is None else env,
                          timeout=timeout)
    elapsed = time.monotonic() - start
    dec = lambda b: (b or b"").decode("utf-8", "surrogateescape")  # noqa: E731
    err = dec(proc.stderr)
    # in a sanitizer build a report could hide behind an expected exit status 1
    assert not SANITIZER_RE.search(err), f"{argv}: sanitizer report:\n{err}"
    return Run(proc.returncode, dec(proc.stdout), err, elapsed)


def ok(r: Run) -> Run:
    assert r.rc == 0, f"exit {r.rc}\nstdout: {r.out!r}\nstderr: {r.err!r}"
    assert r.err == "", f"stderr of a successful run: {r.err!r}"
    return r


def until(fn, timeout=15.0, what="condition"):
    """Calls fn until it returns a true value (returned) or time runs out."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(0.2)
    raise AssertionError(f"{what}: not reached within {timeout} s (last: {last!r})")


def free_tcp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def closed_url() -> str:
    """An XML-RPC URL on a loopback port nobody listens on."""
    return f"http://127.0.0.1:{free_tcp_port()}/RPC2"


def project_version() -> str:
    m = re.search(r"^VERSION\s*:?=\s*(\S+)", (ROOT / "Makefile").read_text(), re.M)
    assert m, "no VERSION in the Makefile"
    return m.group(1)


# ---- the overlay ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def overlay(p2pnsd, tmp_path_factory):
    ns = NodeSet(p2pnsd, tmp_path_factory.mktemp("cli"))
    try:
        started = []
        for _ in range(NODES):
            node = ns.new(rpc=True)
            node.start(bootstrap=started[-2:], extra=["--cache-ttl", CACHE_TTL])
            started.append(node)
        wait_settled(started, min_contacts=NODES - 1)
        yield started
    finally:
        ns.close()


# ---- register / resolve / unregister -------------------------------------------------------

def test_register_on_one_node_resolve_on_another(cli, overlay):
    a, b = overlay[0], overlay[1]
    r = ok(p2pns(cli, a.rpc_url, "register", "sip:alice@example.org", "192.0.2.7:5060"))
    assert r.out == ""
    r = ok(p2pns(cli, b.rpc_url, "resolve", "sip:alice@example.org"))
    assert r.out == "192.0.2.7:5060\n"
    r = ok(p2pns(cli, b.rpc_url, "--json", "resolve", "sip:alice@example.org"))
    assert r.out.endswith("\n") and r.out.count("\n") == 1, r.out
    assert json.loads(r.out) == [{"address": "192.0.2.7:5060", "kind": 33, "id": 0}]
    # a writing command with --json prints {"result":0}
    r = ok(p2pns(cli, a.rpc_url, "--json", "register", "sip:alice@example.org",
                 "192.0.2.7:5060"))
    assert json.loads(r.out) == {"result": 0}


def test_default_kinds_and_kind_filter(cli, overlay):
    a, b = overlay[1], overlay[2]
    name = "host.example.org"
    ok(p2pns(cli, a.rpc_url, "register", name, "192.0.2.8"))
    ok(p2pns(cli, a.rpc_url, "register", name, "2001:db8::8"))
    ok(p2pns(cli, a.rpc_url, "register", name, "2001:10::7a1:ce", "--kind", "55"))
    r = ok(p2pns(cli, b.rpc_url, "--json", "resolve", name))
    assert json.loads(r.out) == [
        {"address": "192.0.2.8", "kind": 1, "id": 0},
        {"address": "2001:db8::8", "kind": 28, "id": 0},
        {"address": "2001:10::7a1:ce", "kind": 55, "id": 0}]
    # text: one per line, sorted by kind
    r = ok(p2pns(cli, b.rpc_url, "resolve", name))
    assert r.out == "192.0.2.8\n2001:db8::8\n2001:10::7a1:ce\n"
    r = ok(p2pns(cli, b.rpc_url, "resolve", name, "--kind", "55"))
    assert r.out == "2001:10::7a1:ce\n"
    r = ok(p2pns(cli, b.rpc_url, "--json", "resolve", name, "--kind", "28"))
    assert json.loads(r.out) == [{"address": "2001:db8::8", "kind": 28, "id": 0}]


def test_two_stage_self(cli, overlay):
    a, b = overlay[0], overlay[3]
    ok(p2pns(cli, a.rpc_url, "register", "sip:carol@example.org", "self:5060"))
    r = ok(p2pns(cli, b.rpc_url, "resolve", "sip:carol@example.org"))
    assert r.out == "127.0.0.1:5060\n"
    r = ok(p2pns(cli, b.rpc_url, "--json", "resolve", "sip:carol@example.org"))
    assert json.loads(r.out) == [{"address": "127.0.0.1:5060", "kind": 33, "id": 0}]


def test_unknown_name_exits_2(cli, overlay):
    b = overlay[2]
    r = p2pns(cli, b.rpc_url, "resolve", "sip:nobody@example.org")
    assert r.rc == 2, r
    assert r.out == ""
    assert "not found" in r.err.lower(), r.err
    assert r.err.startswith("p2pns: resolve sip:nobody@example.org: "), r.err
    assert r.err.endswith("\n") and r.err.count("\n") == 1, r.err
    r = p2pns(cli, b.rpc_url, "--json", "resolve", "sip:nobody@example.org")
    assert r.rc == 2, r
    assert r.out == "[]\n"
    assert json.loads(r.out) == []
    assert "not found" in r.err.lower(), r.err
    # a name without records of the kind asked for is not found either
    ok(p2pns(cli, overlay[0].rpc_url, "register", "only-v4", "192.0.2.1"))
    r = p2pns(cli, b.rpc_url, "resolve", "only-v4", "--kind", "28")
    assert r.rc == 2 and r.out == "", r


def test_unregister(cli, overlay):
    a, b, c = overlay[0], overlay[1], overlay[2]
    name = "sip:dave@example.org"
    ok(p2pns(cli, a.rpc_url, "register", name, "192.0.2.20"))
    ok(p2pns(cli, a.rpc_url, "register", name, "192.0.2.20:5060"))
    assert ok(p2pns(cli, b.rpc_url, "resolve", name, "--kind", "1")).out == "192.0.2.20\n"

    # --kind is required: a usage error, nothing sent
    r = p2pns(cli, a.rpc_url, "unregister", name)
    assert r.rc == 1 and r.out == "", r
    assert "--kind" in r.err, r.err

    # through a node that never registered it: refused by the server (fault 1)
    r = p2pns(cli, c.rpc_url, "unregister", name, "--kind", "1")
    assert r.rc == 1 and r.out == "", r
    assert r.err.startswith(f"p2pns: unregister {name}: "), r.err
    assert "(fault 1)" in r.err, r.err
    assert ok(p2pns(cli, b.rpc_url, "resolve", name, "--kind", "1")).out == "192.0.2.20\n"

    # through the registering node: the record goes, the other kind stays
    r = ok(p2pns(cli, a.rpc_url, "unregister", name, "--kind", "1"))
    assert r.out == ""

    def gone():
        r = p2pns(cli, b.rpc_url, "resolve", name, "--kind", "1")
        assert r.rc in (0, 2), r
        return r if r.rc == 2 else None
    r = until(gone, timeout=15, what="unregistered record gone")
    assert r.out == "" and "not found" in r.err.lower(), r
    assert ok(p2pns(cli, b.rpc_url, "resolve", name)).out == "192.0.2.20:5060\n"


def test_owner_only(cli, overlay):
    a, b, c = overlay[0], overlay[1], overlay[3]
    name = "sip:bob@example.org"
    ok(p2pns(cli, a.rpc_url, "register", name, "192.0.2.10:5060"))
    r = p2pns(cli, b.rpc_url, "register", name, "203.0.113.66:5060")
    assert r.rc == 1 and r.out == "", r
    assert "owned by another key" in r.err, r.err
    assert "(fault 1)" in r.err, r.err
    assert ok(p2pns(cli, c.rpc_url, "resolve", name)).out == "192.0.2.10:5060\n"


# ---- put / get / rm ------------------------------------------------------------------------

def test_put_get(cli, overlay):
    a, b = overlay[1], overlay[3]
    for v in ("first value", "second value"):
        r = ok(p2pns(cli, a.rpc_url, "put", "bag", v))
        assert r.out == ""
    r = ok(p2pns(cli, b.rpc_url, "get", "bag"))
    assert sorted(r.out.splitlines()) == ["first value", "second value"]
    assert r.out.endswith("\n")
    r = ok(p2pns(cli, b.rpc_url, "--json", "get", "bag"))
    assert sorted(json.loads(r.out)) == ["first value", "second value"]
    # put --json
    r = ok(p2pns(cli, a.rpc_url, "--json", "put", "bag2", "x", "--ttl", "60"))
    assert json.loads(r.out) == {"result": 0}

    # an empty key: exit 2, nothing (or []) on stdout
    r = p2pns(cli, b.rpc_url, "get", "no such bag")
    assert r.rc == 2 and r.out == "", r
    assert r.err.startswith("p2pns: get no such bag: "), r.err
    r = p2pns(cli, b.rpc_url, "get", "no such bag", "--json")
    assert r.rc == 2 and r.out == "[]\n", r
    assert json.loads(r.out) == []


def test_get_max(cli, overlay):
    a, b = overlay[2], overlay[0]
    values = {"m1", "m2", "m3"}
    for v in sorted(values):
        ok(p2pns(cli, a.rpc_url, "put", "maxbag", v))
    assert set(ok(p2pns(cli, b.rpc_url, "get", "maxbag")).out.splitlines()) == values
    r = ok(p2pns(cli, b.rpc_url, "get", "maxbag", "--max", "1"))
    lines = r.out.splitlines()
    assert len(lines) == 1 and lines[0] in values, r.out
    r = ok(p2pns(cli, b.rpc_url, "--json", "get", "maxbag", "--max", "2"))
    got = json.loads(r.out)
    assert len(got) == 2 and set(got) <= values, got


def test_get_many_values(cli, overlay):
    """Many values under one key (a replica keeps at most 64): all of them, once each."""
    values = [f"many-value-{i:02d}" for i in range(60)]
    # through the XML-RPC API, to be quick; the replicas take a limited rate of stores
    # from one node: 2 means "try again"
    proxy = overlay[2].proxy(timeout=20)
    deadline = time.monotonic() + 15
    for v in values:
        while proxy.put(xmlrpc.client.Binary(b"many"), xmlrpc.client.Binary(v.encode()),
                        600, "p2pns") != 0:
            assert time.monotonic() < deadline, "puts refused for too long"
            time.sleep(0.1)
    node = overlay[1]
    r = ok(p2pns(cli, node.rpc_url, "get", "many"))
    lines = r.out.splitlines()
    assert sorted(lines) == values
    r = ok(p2pns(cli, node.rpc_url, "--json", "get", "many"))
    assert sorted(json.loads(r.out)) == values
    r = ok(p2pns(cli, node.rpc_url, "get", "many", "--max", "45"))
    lines = r.out.splitlines()
    assert len(lines) == 45 and len(set(lines)) == 45 and set(lines) <= set(values)


def test_put_removable_and_rm(cli, overlay, tmp_path):
    a, b = overlay[0], overlay[2]
    good, bad = "Good-S3cret-4711", "Bad-S3cret-0815"
    r = ok(p2pns(cli, a.rpc_url, "put", "hits", "2001:10::99", "--secret", good))
    assert r.out == ""
    ok(p2pns(cli, a.rpc_url, "put", "hits", "2001:10::98", "--secret", good))
    assert sorted(ok(p2pns(cli, b.rpc_url, "get", "hits")).out.splitlines()) == \
        ["2001:10::98", "2001:10::99"]

    # the wrong secret is refused, and no secret shows in the message
    r = p2pns(cli, a.rpc_url, "rm", "hits", "2001:10::99", "--secret", bad)
    assert r.rc == 1 and r.out == "", r
    assert r.err.startswith("p2pns: rm hits: ") and "(fault 1)" in r.err, r.err
    assert bad not in r.err and good not in r.err, r.err
    # rm without a secret is a usage error
    r = p2pns(cli, a.rpc_url, "rm", "hits", "2001:10::99")
    assert r.rc == 1 and r.out == "" and "--secret" in r.err, r

    # the right one removes the value (and only that one)
    r = ok(p2pns(cli, a.rpc_url, "rm", "hits", "2001:10::99", "--secret", good))
    assert r.out == ""
    until(lambda: ok(p2pns(cli, b.rpc_url, "get", "hits")).out == "2001:10::98\n",
          what="removed value gone")
    # values are signed by the putting node's key (doc/xmlrpc.md): rm works through that
    # node only, even with the right secret
    r = p2pns(cli, b.rpc_url, "rm", "hits", "2001:10::98", "--secret", good)
    assert r.rc == 1 and r.out == "" and "(fault 1)" in r.err, r
    assert good not in r.err, r.err
    r = ok(p2pns(cli, a.rpc_url, "rm", "hits", "2001:10::98", "--secret", good, "--json"))
    assert json.loads(r.out) == {"result": 0}

    def empty():
        r = p2pns(cli, b.rpc_url, "get", "hits")
        assert r.rc in (0, 2), r
        return r if r.rc == 2 else None
    r = until(empty, what="every value removed")
    assert r.out == ""

    # --secret-file -: the secret is the first line of standard input
    stdin_secret = "StdIn-S3cret-1234"
    r = ok(p2pns(cli, a.rpc_url, "put", "piped", "v1", "--secret-file", "-",
                 input=f"{stdin_secret}\nsecond line ignored\n".encode()))
    assert ok(p2pns(cli, b.rpc_url, "get", "piped")).out == "v1\n"
    r = p2pns(cli, a.rpc_url, "rm", "piped", "v1", "--secret-file", "-",
              input=f"{bad}\n".encode())
    assert r.rc == 1 and r.out == "", r
    assert bad not in r.err and stdin_secret not in r.err, r.err
    # a secret file with CRLF: the line end is not part of the secret
    secret_file = tmp_path / "secret"
    secret_file.write_bytes(f"{stdin_secret}\r\n".encode())
    r = ok(p2pns(cli, a.rpc_url, "rm", "piped", "v1", "--secret-file", str(secret_file)))
    until(lambda: p2pns(cli, b.rpc_url, "get", "piped").rc == 2, what="piped value gone")

    # --secret and --secret-file together: a usage error
    r = p2pns(cli, a.rpc_url, "put", "k", "v", "--secret", good, "--secret-file",
              str(secret_file))
    assert r.rc == 1 and r.out == "" and good not in r.err, r
    # an unreadable secret file
    r = p2pns(cli, a.rpc_url, "put", "k", "v", "--secret-file", str(tmp_path / "missing"))
    assert r.rc == 1 and r.out == "" and "missing" in r.err, r


def test_odd_values_round_trip(cli, overlay):
    a, b = overlay[3], overlay[1]
    # text that starts with 0x is printed hex-encoded, so 0x... always means hex
    ok(p2pns(cli, a.rpc_url, "put", "odd-0x", "0xdead"))
    assert ok(p2pns(cli, b.rpc_url, "get", "odd-0x")).out == \
        "0x" + b"0xdead".hex() + "\n"
    assert json.loads(ok(p2pns(cli, b.rpc_url, "--json", "get", "odd-0x")).out) == \
        ["0x" + b"0xdead".hex()]
    ok(p2pns(cli, a.rpc_url, "put", "odd-0X", "0XAB"))
    assert ok(p2pns(cli, b.rpc_url, "get", "odd-0X")).out == "0x" + b"0XAB".hex() + "\n"

    # bytes that are not UTF-8, a control character, DEL: hex
    for key, value in ((b"odd-bin", b"\xff\xfe\x01\x80"), (b"odd-tab", b"a\tb"),
                       (b"odd-del", b"x\x7f"), (b"odd-c1", "\u0085".encode())):
        ok(p2pns(cli, a.rpc_url, "put", key, value))
        r = ok(p2pns(cli, b.rpc_url, "get", key))
        assert r.out == "0x" + value.hex() + "\n", (key, r.out)
        assert json.loads(ok(p2pns(cli, b.rpc_url, "--json", "get", key)).out) == \
            ["0x" + value.hex()]

    # printable UTF-8 with JSON's special characters: as it is, and valid JSON
    tricky = 'say "hi" \\ caf\u00e9 \u2603 {[,]}'
    ok(p2pns(cli, a.rpc_url, "put", "odd-text", tricky))
    assert ok(p2pns(cli, b.rpc_url, "get", "odd-text")).out == tricky + "\n"
    r = ok(p2pns(cli, b.rpc_url, "--json", "get", "odd-text"))
    assert json.loads(r.out) == [tricky]
    # the same through resolve's JSON
    ok(p2pns(cli, a.rpc_url, "register", "odd-name", tricky, "--kind", "99", "--id", "7"))
    r = ok(p2pns(cli, b.rpc_url, "--json", "resolve", "odd-name"))
    assert json.loads(r.out) == [{"address": tricky, "kind": 99, "id": 7}]
    ok(p2pns(cli, a.rpc_url, "register", "odd-name2", b"\xc3\x28", "--kind", "99"))
    r = ok(p2pns(cli, b.rpc_url, "--json", "resolve", "odd-name2"))
    assert json.loads(r.out) == [{"address": "0xc328", "kind": 99, "id": 0}]


# ---- status / lookup -----------------------------------------------------------------------

def test_status(cli, overlay):
    node = overlay[2]
    r = ok(p2pns(cli, node.rpc_url, "status"))
    lines = r.out.splitlines()
    assert f"node_id: {node.node_id}" in lines, r.out
    assert all(re.match(r"^[^:\s]+: ", line) for line in lines), r.out
    assert f"version: {project_version()}" in lines, r.out
    assert any(line.startswith("overlay.routing_table: ") for line in lines), r.out
    # top-level members appear sorted
    tops = [re.match(r"[^.\[:]+", line).group(0) for line in lines]
    assert tops == sorted(tops), tops

    r = ok(p2pns(cli, node.rpc_url, "status", "--json"))
    assert r.out.count("\n") == 1
    pairs = []
    st = json.loads(r.out, object_pairs_hook=lambda p: (pairs.append([k for k, _ in p]),
                                                        dict(p))[1])
    assert st["node_id"] == node.node_id
    assert st["version"] == project_version()
    assert st["overlay"]["routing_table"] >= NODES - 1
    assert all(keys == sorted(keys) for keys in pairs), pairs


def closest(overlay, key: bytes, n: int) -> list:
    """The IDs of the n overlay nodes closest to SHA-1(key) (XOR), the asking one among
    them: a lookup names the node that asks when it is one of the closest."""
    target = int(hashlib.sha1(key).hexdigest(), 16)
    return sorted((x.node_id for x in overlay), key=lambda i: int(i, 16) ^ target)[:n]


def test_lookup(cli, overlay):
    ids = {n.node_id: n for n in overlay}
    asker = overlay[1]
    r = ok(p2pns(cli, asker.rpc_url, "lookup", "some key", "--siblings", "2"))
    lines = r.out.splitlines()
    assert 1 <= len(lines) <= 2, r.out
    for line in lines:
        m = LINE_RE.match(line)
        assert m, line
        ip, port, node_id = m.groups()
        assert ip == "127.0.0.1" and node_id in ids, line
        assert int(port) == ids[node_id].port, line
    # every node knows every other one: the answer is the closest nodes, closest first
    assert [LINE_RE.match(x).group(3) for x in lines] == \
        closest(overlay, b"some key", 2), r.out

    r = ok(p2pns(cli, asker.rpc_url, "--json", "lookup", "some key", "--siblings", "3"))
    found = json.loads(r.out)
    assert 1 <= len(found) <= 3
    for item in found:
        assert set(item) == {"ip", "port", "node_id"} and item["ip"] == "127.0.0.1"
        assert item["node_id"] in ids and item["port"] == ids[item["node_id"]].port
    assert [x["node_id"] for x in found] == closest(overlay, b"some key", 3)

    # a key that is not UTF-8 is sent as its bytes: the node looks up SHA-1 of them
    key = b"\xff\xfe key"
    r = ok(p2pns(cli, overlay[0].rpc_url, "lookup", key, "--siblings", "1"))
    lines = r.out.splitlines()
    assert len(lines) == 1 and LINE_RE.match(lines[0]), r.out
    assert LINE_RE.match(lines[0]).group(3) == closest(overlay, key, 1)[0]


# ---- transport failures --------------------------------------------------------------------

def test_closed_port_and_wrong_path(cli, overlay):
    url = closed_url()
    r = p2pns(cli, url, "status")
    assert r.rc == 1 and r.out == "", r
    assert "cannot reach" in r.err and url in r.err, r.err
    r = p2pns(cli, url, "--json", "resolve", "x")
    assert r.rc == 1 and r.out == "", r        # an error, not "not found": no []
    assert "cannot reach" in r.err, r.err

    wrong = overlay[0].rpc_url.replace("/RPC2", "/nope")
    assert wrong != overlay[0].rpc_url
    r = p2pns(cli, wrong, "resolve", "sip:alice@example.org")
    assert r.rc == 1 and r.out == "", r
    assert "404" in r.err, r.err


@pytest.fixture
def silent_server():
    """A TCP server that accepts connections and never answers; yields its URL."""
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    srv.settimeout(0.2)
    stop = threading.Event()
    held = []

    def serve():
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except (socket.timeout, OSError):
                continue
            held.append(conn)

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{srv.getsockname()[1]}/RPC2"
    finally:
        stop.set()
        t.join(5)
        for conn in held:
            conn.close()
        srv.close()


def test_timeout_against_a_silent_server(cli, silent_server):
    r = p2pns(cli, silent_server, "status", call_timeout="1", timeout=15)
    assert r.rc == 1 and r.out == "", r
    assert "no answer" in r.err and silent_server in r.err, r.err
    assert r.elapsed < 3.0, f"took {r.elapsed:.2f} s with --timeout 1"
    # and for a list command with --json: an error, not []
    r = p2pns(cli, silent_server, "--json", "get", "k", call_timeout="1", timeout=15)
    assert r.rc == 1 and r.out == "" and "no answer" in r.err, r
    assert r.elapsed < 3.0, f"took {r.elapsed:.2f} s with --timeout 1"


def test_p2pns_url_environment(cli, overlay):
    node = overlay[1]
    # P2PNS_URL is used when --url is not given
    r = ok(p2pns(cli, None, "status", env=clean_env(P2PNS_URL=node.rpc_url)))
    assert f"node_id: {node.node_id}" in r.out.splitlines()
    # --url overrides it, both ways
    bad = closed_url()
    r = ok(p2pns(cli, node.rpc_url, "status", env=clean_env(P2PNS_URL=bad)))
    assert f"node_id: {node.node_id}" in r.out.splitlines()
    r = p2pns(cli, bad, "status", env=clean_env(P2PNS_URL=node.rpc_url))
    assert r.rc == 1 and r.out == "" and "cannot reach" in r.err and bad in r.err, r
    # --url after the command too
    r = ok(p2pns(cli, None, "status", "--url", node.rpc_url,
                 env=clean_env(P2PNS_URL=bad)))
    assert f"node_id: {node.node_id}" in r.out.splitlines()
    # the proxy variables are ignored
    proxy = closed_url().replace("/RPC2", "")
    r = ok(p2pns(cli, None, "status", env=clean_env(
        P2PNS_URL=node.rpc_url, http_proxy=proxy, HTTP_PROXY=proxy, ALL_PROXY=proxy,
        all_proxy=proxy)))
    assert f"node_id: {node.node_id}" in r.out.splitlines()


# ---- option parsing ------------------------------------------------------------------------

def test_options_after_arguments_and_double_dash(cli, overlay):
    a, b = overlay[2], overlay[3]
    ok(p2pns(cli, a.rpc_url, "register", "sip:erin@example.org", "192.0.2.30:5060"))
    ok(p2pns(cli, a.rpc_url, "register", "sip:erin@example.org", "192.0.2.30"))
    r = ok(p2pns(cli, b.rpc_url, "resolve", "sip:erin@example.org", "--json", "--kind", "33"))
    assert json.loads(r.out) == [{"address": "192.0.2.30:5060", "kind": 33, "id": 0}]
    # global options between the command's arguments
    r = ok(p2pns(cli, None, "register", "--ttl", "120", "sip:erin@example.org", "--url",
                 a.rpc_url, "198.51.100.1:5060", "--id", "1", "--json"))
    assert json.loads(r.out) == {"result": 0}
    # B answered for this name a moment ago: its cache entry lives CACHE_TTL s
    until(lambda: ok(p2pns(cli, b.rpc_url, "resolve", "sip:erin@example.org", "--kind",
                           "33")).out == "192.0.2.30:5060\n198.51.100.1:5060\n",
          what="the second record resolves")

    # -- ends the options: a name starting with a dash
    r = ok(p2pns(cli, a.rpc_url, "register", "--kind", "1", "--", "-dash", "192.0.2.31"))
    r = ok(p2pns(cli, b.rpc_url, "resolve", "--", "-dash"))
    assert r.out == "192.0.2.31\n"
    r = ok(p2pns(cli, b.rpc_url, "--json", "resolve", "--kind", "1", "--", "-dash"))
    assert json.loads(r.out) == [{"address": "192.0.2.31", "kind": 1, "id": 0}]
    # without --, -dash is an (unknown) option
    r = p2pns(cli, b.rpc_url, "resolve", "-dash")
    assert r.rc == 1 and r.out == "", r


@pytest.mark.parametrize("args,needle", [
    (["frobnicate", "x"], "unknown command"),
    (["resolve", "a", "b"], "argument"),
    (["status", "extra"], "argument"),
    (["resolve"], "argument"),
    (["register", "n", "192.0.2.1", "--ttl", "0"], "--ttl"),
    (["register", "n", "192.0.2.1", "--ttl", "604801"], "--ttl"),
    (["register", "n", "192.0.2.1", "--kind", "0"], "--kind"),
    (["register", "n", "192.0.2.1", "--kind", "65536"], "--kind"),
    (["register", "n", "192.0.2.1", "--id", "-1"], "--id"),
    (["register", "n", "self:0"], "self:PORT"),
    (["register", "n", ""], "address"),
    (["resolve", ""], "empty"),
    (["--timeout", "0", "status"], "--timeout"),
    (["status", "--kind", "1"], "does not apply"),
    (["get", "k", "--ttl", "5"], "does not apply"),
    (["--kind", "1", "resolve", "x"], "does not apply"),
    (["get", "k", "--max", "0"], "--max"),
    (["lookup", "k", "--siblings", "65"], "--siblings"),
    (["resolve", "x", "--bogus"], "bogus"),
    ([], "usage"),
])
def test_usage_errors(cli, args, needle):
    # a closed port: if a usage error were not caught, the run would still not reach a node
    r = p2pns(cli, closed_url(), *args, timeout=10)
    assert r.rc == 1, r
    assert r.out == "", r
    assert needle in r.err, r.err
    assert "cannot reach" not in r.err, r.err


def test_secret_not_echoed_by_option_errors(cli):
    """p2pns(1): removal secrets never appear in messages, also when the option is
    abbreviated ambiguously (--secre matches --secret and --secret-file)."""
    r = p2pns(cli, closed_url(), "put", "k", "v", "--secre=TopS3cret-99", timeout=10)
    assert r.rc == 1 and r.out == "", r
    assert "TopS3cret-99" not in r.err, r.err


def test_help_and_version(cli):
    r = ok(p2pns(cli, None, "--help", call_timeout=None, timeout=10))
    assert r.out.startswith("usage: p2pns") and "resolve" in r.out and "status" in r.out
    r = ok(p2pns(cli, None, "-h", call_timeout=None, timeout=10))
    assert r.out.startswith("usage: p2pns")
    r = ok(p2pns(cli, closed_url(), "resolve", "--help", timeout=10))
    assert r.out.startswith("usage: p2pns resolve")
    r = ok(p2pns(cli, None, "help", "register", call_timeout=None, timeout=10))
    assert r.out.startswith("usage: p2pns register")
    for flag in ("--version", "-V"):
        r = ok(p2pns(cli, None, flag, call_timeout=None, timeout=10))
        assert r.out == f"p2pns {project_version()}\n"


# ---- a node that does not let loopback write -----------------------------------------------

def test_write_refused_outside_allowed_networks(cli, nodes):
    node = nodes.new(rpc=True)
    node.start(extra=["--rpc-write-allow", "10.0.0.0/8"])
    for args in (["register", "sip:frank@example.org", "192.0.2.40:5060"],
                 ["put", "k", "v"],
                 ["put", "k", "v", "--secret", "Refused-S3cret"],
                 ["unregister", "sip:frank@example.org", "--kind", "33"]):
        r = p2pns(cli, node.rpc_url, *args)
        assert r.rc == 1 and r.out == "", (args, r)
        assert "(fault 13)" in r.err, (args, r.err)
        assert r.err.startswith(f"p2pns: {args[0]} {args[1]}: "), r.err
        assert "Refused-S3cret" not in r.err
    # reading still works
    r = p2pns(cli, node.rpc_url, "resolve", "sip:frank@example.org")
    assert r.rc == 2 and r.out == "" and "not found" in r.err.lower(), r
    r = ok(p2pns(cli, node.rpc_url, "status"))
    assert f"node_id: {node.node_id}" in r.out.splitlines()


# ---- output errors -------------------------------------------------------------------------

def test_output_to_dev_full(cli, overlay):
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    node = overlay[0]
    with open("/dev/full", "wb") as full:
        r = p2pns(cli, node.rpc_url, "status", stdout=full)
        assert r.rc == 1, r
        assert "write error" in r.err or "No space" in r.err, r.err
        r = p2pns(cli, node.rpc_url, "--json", "resolve", "sip:nobody@example.org",
                  stdout=full)
        assert r.rc == 1, r                   # "[]" could not be written either
