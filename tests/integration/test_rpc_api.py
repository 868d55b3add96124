"""The XML-RPC front end on a real overlay of p2pnsd processes, called by real clients:
Python's xmlrpc.client (OverSim's exact signatures, base64 arguments) and the `xmlrpc`
command of xmlrpc-c. Registration on one node is resolved on another; unknown names, wrong
arguments, bodies over 64 KiB, garbage, writes from outside the allowed networks and
owner conflicts all get clear errors, and the daemon keeps serving after each."""
import hashlib
import http.client
import socket
import shutil
import subprocess
import time
import urllib.parse
import xmlrpc.client

import pytest

from conftest import NodeSet, wait_settled

B = xmlrpc.client.Binary
NODES = 5
CACHE_TTL = "2"        # seconds: lets the tests see updates made through other nodes


@pytest.fixture(scope="module")
def overlay(p2pnsd, tmp_path_factory):
    ns = NodeSet(p2pnsd, tmp_path_factory.mktemp("rpc"))
    try:
        started = []
        for i in range(NODES):
            node = ns.new(rpc=True)
            node.start(bootstrap=started[-2:], extra=["--cache-ttl", CACHE_TTL])
            started.append(node)
        wait_settled(started, min_contacts=NODES - 1)
        yield started
    finally:
        ns.close()


def fault_of(fn, *args):
    with pytest.raises(xmlrpc.client.Fault) as e:
        fn(*args)
    return e.value


def alive(node):
    """The daemon still answers (after a bad request)."""
    assert node.running(), node.log()[-2000:]
    assert node.proxy().status()["node_id"] == node.node_id


def resolve_until(proxy, name, kind, want, timeout=20.0):
    """Resolves until the answer's addresses equal want (a set of bytes) or time runs out;
    the cache TTL of the test nodes is 2 s."""
    deadline = time.monotonic() + timeout
    got = None
    while time.monotonic() < deadline:
        try:
            got = {bytes(a.data) for a, _k, _i in proxy.resolve(B(name), kind)}
        except xmlrpc.client.Fault as f:
            got = f
        if got == want:
            return got
        time.sleep(0.25)
    raise AssertionError(f"resolve {name!r}: wanted {want}, last answer {got}")


def test_register_on_one_node_resolve_on_another(overlay):
    a, b = overlay[0], overlay[3]
    assert a.proxy().register(B(b"sip:alice@example.org"), 1, 0, B(b"192.0.2.7"), 600) == 0
    assert a.proxy().register(B(b"sip:alice@example.org"), 33, 0, B(b"192.0.2.7:5060"),
                              600) == 0
    assert a.proxy().register(B(b"sip:alice@example.org"), 55, 0, B(b"2001:10::1234"),
                              600) == 0
    every = b.proxy().resolve(B(b"sip:alice@example.org"), 0)
    assert [(bytes(x.data), k, i) for x, k, i in every] == [
        (b"192.0.2.7", 1, 0), (b"192.0.2.7:5060", 33, 0), (b"2001:10::1234", 55, 0)]
    hit = b.proxy().resolve(B(b"sip:alice@example.org"), 55)
    assert [(bytes(x.data), k, i) for x, k, i in hit] == [(b"2001:10::1234", 55, 0)]
    # another node yet, a string instead of base64 (accepted wherever base64 is)
    srv = overlay[4].proxy().resolve("sip:alice@example.org", 33)
    assert [(bytes(x.data), k, i) for x, k, i in srv] == [(b"192.0.2.7:5060", 33, 0)]


def test_unknown_name_is_fault_9(overlay):
    f = fault_of(overlay[1].proxy().resolve, B(b"sip:nobody@example.org"), 0)
    assert f.faultCode == 9 and "not found" in f.faultString.lower()
    # a registered name without records of the kind asked for is not found either
    overlay[0].proxy().register(B(b"only-a"), 1, 0, B(b"192.0.2.1"), 600)
    f = fault_of(overlay[2].proxy().resolve, B(b"only-a"), 28)
    assert f.faultCode == 9
    alive(overlay[1])


@pytest.mark.parametrize("method,args", [
    ("register", (B(b"x"), 1, 0, B(b"192.0.2.1"))),            # one argument short
    ("register", (B(b"x"), 1, 0, B(b"192.0.2.1"), 60, 7)),     # one too many
    ("register", (B(b"x"), "one", 0, B(b"192.0.2.1"), 60)),    # kind a string
    ("register", (B(b"x"), 1, 0, B(b"192.0.2.1"), 1.5)),       # ttl a double
    ("register", (B(b"x"), 70000, 0, B(b"192.0.2.1"), 60)),    # kind out of range
    ("register", (B(b"x"), 1, 0, B(b"192.0.2.1"), 0)),         # ttl out of range
    ("resolve", (42, 1)),
    ("resolve", ()),
    ("put", (B(b"k"), B(b"v"), 60)),
    ("get", (B(b"k"), 0, B(b""), "app")),                      # maxvals 0
    ("lookup", (B(b"k"), [1, 2])),
    ("put_removable", (B(b"k"), B(b"v"), "MD5", B(b"\0" * 20), 60, "app")),
    ("rm", (B(b"k"), B(b"short"), "SHA", B(b"s"), 60, "app")),
    ("local_lookup", (B(b"k"), 3)),
    ("dump_dht", ("all",)),
    ("status", (1,)),
    ("no_such_method", ()),
])
def test_wrong_arguments_are_faults(overlay, method, args):
    node = overlay[2]
    f = fault_of(getattr(node.proxy(), method), *args)
    assert f.faultCode not in (0, 9), f
    assert f.faultString
    alive(node)


def test_every_method_with_oversim_signatures(overlay):
    a, b = overlay[1], overlay[4]
    pa, pb = a.proxy(), b.proxy()
    methods = set(pb.system.listMethods())
    assert {"register", "resolve", "unregister", "put", "get", "lookup", "local_lookup",
            "join", "dump_dht", "put_removable", "rm", "status", "system.listMethods",
            "system.methodHelp", "system.methodSignature"} <= methods
    assert pb.system.methodSignature("register") == [
        ["int", "base64", "int", "int", "base64", "int"]]
    assert pb.system.methodSignature("resolve") == [["array", "base64", "int"]]
    assert "kind" in pb.system.methodHelp("register")

    # put / get (OpenDHT semantics: several values under one key, paged by placemark)
    for v in (b"one", b"two", b"three"):
        assert pa.put(B(b"bag"), B(v), 600, "test") == 0
    values, seen, pm, rounds = [], set(), B(b""), 0
    while True:
        vals, pm = pb.get(B(b"bag"), 2, pm, "test")
        assert len(vals) <= 2
        values += [bytes(v.data) for v in vals]
        rounds += 1
        if not pm.data:
            break
        assert rounds < 10
    assert sorted(values) == [b"one", b"three", b"two"] and rounds == 2
    # an unknown key: no values and an empty placemark, not a fault
    vals, pm = pb.get(B(b"no such bag"), 10, B(b""), "test")
    assert vals == [] and pm.data == b""

    # put_removable / rm (RFC 6537 HIT lookups through the OpenDHT gateway interface)
    secret = b"s3cret"
    sh = hashlib.sha1(secret).digest()
    assert pa.put_removable(B(b"hit-key"), B(b"2001:10::99"), "SHA", B(sh), 600, "hip") == 0
    assert [bytes(v.data) for v in pb.get(B(b"hit-key"), 10, B(b""), "hip")[0]] == \
        [b"2001:10::99"]
    vh = hashlib.sha1(b"2001:10::99").digest()
    f = fault_of(pa.rm, B(b"hit-key"), B(vh), "SHA", B(b"wrong"), 600, "hip")
    assert f.faultCode == 1 and "secret" in f.faultString
    assert pa.rm(B(b"hit-key"), B(vh), "SHA", B(secret), 600, "hip") == 0
    deadline = time.monotonic() + 15
    while pb.get(B(b"hit-key"), 10, B(b""), "hip")[0]:
        assert time.monotonic() < deadline, "removed value still returned"
        time.sleep(0.25)

    # lookup over the overlay and in the local table
    found = pb.lookup(B(a.node_id.encode()), 3)
    assert 1 <= len(found) <= 3
    for ip, port, hexkey in found:
        assert ip == "127.0.0.1" and 0 < port < 65536 and len(hexkey) == 40
    ids = {n.node_id for n in overlay}
    assert {h for _i, _p, h in found} <= ids
    local = pb.local_lookup(B(b"anything"), 3, True)
    assert 1 <= len(local) <= 3 and {h for _i, _p, h in local} <= ids

    # join: this node's own ID (raw or hex) is fine, another one is refused
    assert pb.join(B(bytes.fromhex(b.node_id))) == 0
    assert pb.join(B(b.node_id.encode())) == 0
    f = fault_of(pb.join, B(bytes.fromhex(a.node_id)))
    assert f.faultCode == 1

    # dump_dht: the records this node holds as a replica
    dump = pb.dump_dht(1000)
    assert isinstance(dump, list) and all(len(r["key"]) == 40 for r in dump)
    assert len(pb.dump_dht(1)) <= 1

    # unregister
    assert pa.register(B(b"short-lived"), 1, 0, B(b"192.0.2.9"), 600) == 0
    resolve_until(pb, b"short-lived", 1, {b"192.0.2.9"})
    assert pa.unregister(B(b"short-lived"), 1, 0) == 0
    deadline = time.monotonic() + 15
    while True:
        try:
            pb.resolve(B(b"short-lived"), 1)
        except xmlrpc.client.Fault as f:
            assert f.faultCode == 9
            break
        assert time.monotonic() < deadline, "unregistered name still resolves"
        time.sleep(0.25)

    st = pb.status()
    assert st["node_id"] == b.node_id
    for key in ("version", "addresses", "uptime", "overlay", "cache", "requests"):
        assert key in st, key
    assert st["overlay"]["routing_table"] >= NODES - 1
    assert 0.0 <= st["cache"]["hit_ratio"] <= 1.0
    assert st["requests"]["calls"] > 10


def test_owner_only(overlay):
    a, b, c = overlay[0], overlay[1], overlay[2]
    name = b"sip:bob@example.org"
    assert a.proxy().register(B(name), 33, 0, B(b"192.0.2.10:5060"), 600) == 0
    f = fault_of(b.proxy().register, B(name), 33, 0, B(b"203.0.113.66:5060"), 600)
    assert f.faultCode == 1 and "owned by another key" in f.faultString, f
    # B's node made a key for the name at its refused registration; its removal, signed
    # with that key, is refused the same way
    f = fault_of(b.proxy().unregister, B(name), 33, 0)
    assert f.faultCode == 1 and "owned by another key" in f.faultString, f
    # a node that never tried holds no key at all
    f = fault_of(c.proxy().unregister, B(name), 33, 0)
    assert f.faultCode == 1 and "no key" in f.faultString, f
    resolve_until(c.proxy(), name, 33, {b"192.0.2.10:5060"})
    # the owner's node can update it, and everyone sees the update
    assert a.proxy().register(B(name), 33, 0, B(b"192.0.2.11:5060"), 600) == 0
    resolve_until(c.proxy(), name, 33, {b"192.0.2.11:5060"})
    resolve_until(b.proxy(), name, 33, {b"192.0.2.11:5060"})


def test_writing_methods_refused_from_outside_the_allowed_networks(nodes):
    """The node allows writes from 127.0.0.1 only; a client connecting from 127.0.0.2 is
    outside (the default allows all of loopback, which a test cannot leave)."""
    node = nodes.new(rpc=True)
    node.start(extra=["--rpc-write-allow", "127.0.0.1/32"])
    outside = node.proxy(source_address="127.0.0.2")
    for call in (lambda p: p.register(B(b"x"), 1, 0, B(b"192.0.2.1"), 60),
                 lambda p: p.put(B(b"x"), B(b"v"), 60, "t"),
                 lambda p: p.unregister(B(b"x"), 1, 0),
                 lambda p: p.dump_dht(10)):
        f = fault_of(call, outside)
        assert f.faultCode == 13 and "127.0.0.2" in f.faultString, f
    # reading is open to every client that can reach the server
    f = fault_of(outside.resolve, B(b"x"), 1)
    assert f.faultCode == 9
    assert outside.status()["node_id"] == node.node_id
    # and the allowed address writes
    assert node.proxy(source_address="127.0.0.1").register(B(b"x"), 1, 0, B(b"192.0.2.1"),
                                                           60) == 0
    assert node.proxy().status()["requests"]["refused_access"] == 4


def post(node, body, headers=None, path="/RPC2", method="POST"):
    u = urllib.parse.urlparse(node.rpc_url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=20)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def post_big(node, length):
    """POSTs a body of length bytes: the headers, then (once the server answered, which it
    does from Content-Length alone, before reading a byte of the body) the body, which the
    server may no longer take. Returns the HTTP status."""
    u = urllib.parse.urlparse(node.rpc_url)
    with socket.create_connection((u.hostname, u.port), timeout=20) as s:
        s.sendall(f"POST /RPC2 HTTP/1.1\r\nHost: {u.hostname}\r\nContent-Type: text/xml\r\n"
                  f"Content-Length: {length}\r\n\r\n".encode())
        head = b""
        while b"\r\n" not in head:
            data = s.recv(4096)
            if not data:
                break
            head += data
        try:
            s.sendall(b"<" * length)
        except (BrokenPipeError, ConnectionResetError):
            pass
    assert head.startswith(b"HTTP/1."), head
    return int(head.split()[1])


def test_oversized_body_gets_413(overlay):
    node = overlay[3]
    # decided from Content-Length, before a byte of the body is read
    assert post_big(node, 1 << 20) == 413
    assert post_big(node, 64 * 1024 + 1) == 413
    assert node.proxy().status()["requests"]["too_big"] >= 2
    alive(node)


@pytest.mark.parametrize("body", [
    b"this is not xml",
    b"<?xml version='1.0'?><methodCall><methodName>resolve</methodName><params>",
    b"<methodCall><methodName>resolve</methodName><params><param><value><int>x</int>"
    b"</value></param></params></methodCall>",
    b"",
    b"\xff\xfe\x00garbage",
    # xmlrpc-c 1.33 itself crashes on an i8 that is not a number: refused before it parses
    b"<?xml version='1.0'?><methodCall><methodName>resolve</methodName><params><param>"
    b"<value><i8>x</i8></value></param></params></methodCall>",
    b"<?xml version='1.0'?><!DOCTYPE a [<!ENTITY e 'x'>]><methodCall><methodName>"
    b"resolve</methodName><params><param><value><i8>&e;</i8></value></param></params>"
    b"</methodCall>",
    b"<?xml version='1.0'?>" + b"<array><data><value>" * 200,
])
def test_garbage_xml_is_a_fault(overlay, body):
    node = overlay[3]
    status, data = post(node, body, {"Content-Type": "text/xml"})
    assert status == 200
    with pytest.raises(xmlrpc.client.Fault) as e:
        xmlrpc.client.loads(data)
    assert e.value.faultCode < 0
    alive(node)


def test_other_http_methods_and_paths(overlay):
    node = overlay[3]
    assert post(node, None, method="GET")[0] == 405
    assert post(node, b"x", path="/elsewhere")[0] == 404
    alive(node)


def xmlrpc_cli(url, *args):
    return subprocess.run(["xmlrpc", url, *args], capture_output=True, text=True, timeout=60)


@pytest.mark.skipif(shutil.which("xmlrpc") is None,
                    reason="the xmlrpc command (Debian libxmlrpc-core-c3-dev) is missing")
def test_xmlrpc_command_of_xmlrpc_c(overlay):
    a, b = overlay[2], overlay[0]
    name = b"sip:dave@example.org".hex()
    r = xmlrpc_cli(a.rpc_url, "register", f"h/{name}", "i/33", "i/0",
                   f"h/{b'192.0.2.44:5060'.hex()}", "i/600")
    assert r.returncode == 0 and "Integer: 0" in r.stdout, r.stdout + r.stderr
    r = xmlrpc_cli(b.rpc_url, "resolve", f"h/{name}", "i/33")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Array" in r.stdout and b"192.0.2.44:5060".hex() in r.stdout.replace(" ", ""), \
        r.stdout
    r = xmlrpc_cli(b.rpc_url, "resolve", f"h/{b'nobody'.hex()}", "i/0")
    assert r.returncode != 0 and "9" in r.stdout + r.stderr
    r = xmlrpc_cli(b.rpc_url, "resolve", "i/5")
    assert r.returncode != 0 and "fault" in (r.stdout + r.stderr).lower()
    r = xmlrpc_cli(b.rpc_url, "status")
    assert r.returncode == 0 and b.node_id in r.stdout, r.stdout
    alive(b)


def test_two_stage_name_follows_its_node(nodes):
    """A registers a two-stage name ("self:5060": the DHT holds A's node ID); after A
    restarts on another address and port, B resolves the name to A's new address without
    any re-registration."""
    ns = []
    for i in range(6):
        node = nodes.new(rpc=True)
        node.start(bootstrap=ns[-2:], extra=["--cache-ttl", "5"])
        ns.append(node)
    wait_settled(ns, min_contacts=4)
    a, b = ns[0], ns[4]
    name = b"sip:carol@example.org"
    assert a.proxy().register(B(name), 33, 0, B(b"self:5060"), 600) == 0
    first = b.proxy().resolve(B(name), 33)
    assert [(bytes(x.data), k) for x, k, _i in first] == [(b"127.0.0.1:5060", 33)]

    a.stop()
    a.host, a.binds = "127.0.0.2", ["127.0.0.2"]
    old_port = a.port
    a.start(bootstrap=[ns[1], ns[2]], avoid=(old_port,), extra=["--cache-ttl", "5"])
    assert a.port != old_port
    # B's cache entries (name and node address) live 5 s at most
    resolve_until(b.proxy(), name, 33, {b"127.0.0.2:5060"}, timeout=60)
    assert b.proxy().status()["requests"]["stage2_lookups"] >= 1
    # the DHT record itself was never rewritten: its seq is the one of the registration
    assert a.proxy().status()["requests"]["registers"] == 0
