"""p2pnsd under faults, as real processes on loopback. kill -9 of a node while a client
streams registrations through it (or of one of the replicas), then a restart on the same
data directory: every registration the daemon acknowledged before the kill resolves
afterwards with its exact address, through the restarted node and through another, and the
names' keys survived (the writer can still update them). A node whose data directory (a
small tmpfs in a mount namespace of its own) fills up refuses new records with a clear
fault, keeps answering reads and status, loses nothing through restarts, and takes writes
again once there is room. Everything is bounded in time."""
import errno
import hashlib
import os
import pathlib
import subprocess
import threading
import time
import xmlrpc.client

import pytest

from conftest import NodeSet, wait_settled

B = xmlrpc.client.Binary
KIND = 33
RPC_TIMEOUT_S = 35          # one call (the daemon answers within 30 s)
CACHE_TTL = "2"             # s: updates made through one node show on the others soon

# ---- kill -9 during a stream of registrations ----------------------------------------------

KILL_NODES = 5              # every node is one of a name's 5 replicas
ACKED_BEFORE_KILL = 100     # acknowledged registrations before the kill
ACKED_AFTER_RESTART = 20    # and after the restart, before the stream stops
STREAM_RATE = 20            # registrations a second at most (replicas take 50/s per node)
STEP_TIMEOUT_S = 90         # each wait of the test
UPDATES = 5                 # names registered before the kill and updated after it


def kill_host(i):
    """Node i's own loopback address: the KBR rate-limits datagrams per source IP."""
    return f"127.0.4.{10 + i}"


def records(answer):
    return [(bytes(a.data), kind, rid) for a, kind, rid in answer]


class Stream(threading.Thread):
    """Registers name 0, 1, 2, ... through node, at most STREAM_RATE a second, until
    stopped. A registration counts as acknowledged only when register returned 0; calls
    that fail (the node is gone, a connection is cut) are noted and the next name goes
    through a new connection to the node's current XML-RPC address."""

    def __init__(self, node, prefix):
        super().__init__(name=f"stream-{prefix}", daemon=True)
        self.node, self.prefix = node, prefix
        self.acked = []                 # (name, address, monotonic time of the answer)
        self.failed = []                # (name, error)
        self.stop_flag = threading.Event()
        self.calling = threading.Event()   # set while a register call is under way

    def item(self, i):
        return (f"sip:{self.prefix}-{i}@faults.example".encode(),
                f"192.0.2.{i % 250 + 1}:{10000 + i}".encode())

    def run(self):
        proxy, i = None, 0
        while not self.stop_flag.is_set():
            started = time.monotonic()
            name, addr = self.item(i)
            i += 1
            try:
                if proxy is None:
                    proxy = self.node.proxy(RPC_TIMEOUT_S)
                self.calling.set()
                answer = proxy.register(B(name), KIND, 0, B(addr), 3600)
            except Exception as e:      # a fault, refused or cut connections, a timeout
                answer = e
            self.calling.clear()
            if answer == 0:
                self.acked.append((name, addr, time.monotonic()))
            else:
                self.failed.append((name, repr(answer)[:200]))
                proxy = None
                time.sleep(0.05)
            time.sleep(max(0.0, started + 1.0 / STREAM_RATE - time.monotonic()))

    def wait_acked(self, count, what):
        deadline = time.monotonic() + STEP_TIMEOUT_S
        while len(self.acked) < count:
            assert self.is_alive(), "the stream thread ended"
            assert time.monotonic() < deadline, \
                (f"{what}: {len(self.acked)} of {count} acknowledged after "
                 f"{STEP_TIMEOUT_S} s; last failures {self.failed[-5:]}")
            time.sleep(0.05)


def resolve_exact(node, name, want, deadline):
    """resolve(name) on node until it answers exactly [(want, KIND, 0)], asking again
    (the overlay may still be settling after a restart) until the monotonic deadline."""
    proxy = node.proxy(RPC_TIMEOUT_S)
    while True:
        try:
            got = records(proxy.resolve(B(name), KIND))
        except xmlrpc.client.Fault as f:
            got = f
        except OSError as e:
            got, proxy = e, node.proxy(RPC_TIMEOUT_S)
        if got == [(want, KIND, 0)]:
            return
        assert time.monotonic() < deadline, \
            f"{node.name}: resolve {name!r}: wanted {want!r}, got {got!r}"
        time.sleep(0.25)


def key_file(node, name):
    return node.datadir / "keys" / f"{hashlib.sha1(name).hexdigest()}.pem"


@pytest.mark.parametrize("victim", ["writer", "replica"])
def test_kill_9_during_registrations_loses_nothing_acknowledged(p2pnsd, tmp_path, victim):
    """victim writer: the node the registrations go through is killed; replica: another
    node, which holds a replica of every name, is killed while the stream goes on."""
    ns = NodeSet(p2pnsd, tmp_path)
    try:
        overlay = []
        for i in range(KILL_NODES):
            node = ns.new(rpc=True, host=kill_host(i))
            node.start(bootstrap=overlay[-2:], extra=["--cache-ttl", CACHE_TTL])
            overlay.append(node)
        wait_settled(overlay, min_contacts=KILL_NODES - 1, timeout=60)
        writer = overlay[0]
        target = writer if victim == "writer" else overlay[2]
        witness = overlay[3]            # neither the writer nor the victim

        stream = Stream(writer, victim)
        stream.start()
        try:
            stream.wait_acked(ACKED_BEFORE_KILL, "before the kill")
            assert stream.calling.wait(STEP_TIMEOUT_S), "no registration under way"
            target.kill()               # SIGKILL, with a registration in flight
            killed_at = time.monotonic()
            before_kill = list(stream.acked)
            time.sleep(1.0)             # the stream goes on against the dead node
            target.start(port=target.port,
                         bootstrap=[n for n in overlay if n is not target][:2],
                         extra=["--cache-ttl", CACHE_TTL])
            stream.wait_acked(len(stream.acked) + ACKED_AFTER_RESTART, "after the restart")
        finally:
            stream.stop_flag.set()
            stream.join(RPC_TIMEOUT_S + 5)
        assert not stream.is_alive(), "the stream did not stop"
        acked = list(stream.acked)
        print(f"\nkill -9 of the {victim}: {len(before_kill)} registrations acknowledged "
              f"before the kill, {len(acked)} in all, {len(stream.failed)} failed "
              f"(first: {stream.failed[:3]})")
        if victim == "replica":
            # the writer never went away and four of five replicas stayed: nothing fails
            assert not stream.failed, stream.failed[:10]

        # the per-name keys made before the kill are on the writer's disk
        missing = [n for n, _a, _t in acked if not key_file(writer, n).exists()]
        assert not missing, f"keys missing for acknowledged names: {missing[:10]}"

        # every acknowledged registration resolves, exactly, through the restarted node
        # and through one that was never touched
        deadline = time.monotonic() + STEP_TIMEOUT_S
        for node in (target, witness):
            for name, addr, _t in acked:
                resolve_exact(node, name, addr, deadline)

        if victim == "replica":
            # the killed replica kept what it had committed well before the kill
            lost = [n.decode() for n, _a, t in before_kill if t < killed_at - 1.0
                    and not target.control(f"holds {n.decode()}")["holds"]]
            assert not lost, f"{target.name} lost records after kill -9: {lost[:10]}"

        # the writer can still update names it registered before the kill: their keys
        # survived (a new key would be refused as "owned by another key")
        proxy = writer.proxy(RPC_TIMEOUT_S)
        deadline = time.monotonic() + STEP_TIMEOUT_S
        for j, (name, _addr, _t) in enumerate(before_kill[:UPDATES]):
            new = f"203.0.113.9:{30000 + j}".encode()
            assert proxy.register(B(name), KIND, 0, B(new), 3600) == 0, name
            resolve_exact(witness, name, new, deadline)
    finally:
        ns.close()


# ---- a full disk ---------------------------------------------------------------------------

TMPFS_SIZE = {"per-name": "512k", "node": "96k"}   # room for NAMES_BEFORE names and more
STORE_MB = "4"              # the LMDB map: larger than the disk, so the disk fills first
NAMES_BEFORE = 40           # registered while there is room
LEAVE = 16 << 10            # bytes a filler file leaves free: the node's own writes fill them
REFUSALS = 4                # new names refused in a row: the disk is full
FILL_LIMIT = 200            # new names tried on a filling disk at most
# what the refusal of a new name says: the name's new key cannot be written (per-name keys
# only), or its record cannot
KEY_FULL = (22, "no room for a new key: the disk of this node's data directory "
                "is full")
STORE_FULL = (1, "refused: the replicas' storage is full")
DISK_FULL_FAULTS = {"per-name": (KEY_FULL, STORE_FULL), "node": (STORE_FULL,)}


def namespace_holder():
    """A process in a mount namespace of its own (mounts made there stay private), or
    pytest.skip if this machine does not allow one."""
    if not all(os.path.exists(p) for p in ("/usr/bin/unshare", "/usr/bin/nsenter")):
        pytest.skip("needs unshare and nsenter (util-linux)")
    holder = subprocess.Popen(["unshare", "-m", "--propagation", "private", "sleep", "600"],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    while True:
        if holder.poll() is not None:
            reason = holder.stderr.read().decode(errors="replace").strip()
            holder.stderr.close()
            pytest.skip(f"no mount namespace for a tmpfs data directory: {reason}")
        try:
            if os.readlink(f"/proc/{holder.pid}/ns/mnt") != os.readlink("/proc/self/ns/mnt"):
                return holder
        except OSError:
            pass
        if time.monotonic() > deadline:
            holder.kill()
            holder.wait()
            raise AssertionError("unshare did not enter a new mount namespace")
        time.sleep(0.02)


def in_namespace(holder, path) -> pathlib.Path:
    """path as the processes of holder's mount namespace see it."""
    return pathlib.Path(f"/proc/{holder.pid}/root{path}")


def fill(path, leave) -> int:
    """Writes zeros to path until at most leave bytes of its disk are free; returns the
    bytes written."""
    written = 0
    with open(path, "wb", buffering=0) as f:
        for chunk in (1 << 16, 4096):
            while True:
                vfs = os.statvfs(path)
                if vfs.f_bavail * vfs.f_frsize - chunk < leave:
                    break
                try:
                    f.write(b"\0" * chunk)
                except OSError as e:
                    if e.errno != errno.ENOSPC:
                        raise
                    break
                written += chunk
    return written


def register(proxy, name, addr):
    """register's answer: 0 or the Fault."""
    try:
        return proxy.register(B(name), KIND, 0, B(addr), 3600)
    except xmlrpc.client.Fault as f:
        return f


def check_all(node, stored, what):
    proxy = node.proxy(RPC_TIMEOUT_S)
    wrong = []
    for name, addr in stored.items():
        try:
            got = records(proxy.resolve(B(name), KIND))
        except xmlrpc.client.Fault as f:
            got = f
        if got != [(addr, KIND, 0)]:
            wrong.append((name, addr, got))
    assert not wrong, f"{what}: {len(wrong)} of {len(stored)} names wrong: {wrong[:5]}"


@pytest.mark.parametrize("name_keys", ["per-name", "node"])
def test_full_disk_refuses_writes_keeps_reads_and_records(p2pnsd, tmp_path, name_keys):
    """A lone node (its own replica: --replicas 1) on a small tmpfs. per-name: each new
    name needs a key file and a record, either of which the full disk refuses; node: the
    node's key signs, so the LMDB store is what runs out of room."""
    holder = namespace_holder()
    ns = NodeSet(p2pnsd, tmp_path)
    try:
        wrapper = tmp_path / "p2pnsd-in-namespace"
        wrapper.write_text(f'#!/bin/sh\nexec nsenter -t {holder.pid} -m -- {p2pnsd} "$@"\n')
        wrapper.chmod(0o755)
        ns.binary = str(wrapper)
        node = ns.new("full", rpc=True)
        node.datadir.mkdir(mode=0o700)
        mount = subprocess.run(
            ["nsenter", "-t", str(holder.pid), "-m", "mount", "-t", "tmpfs", "-o",
             f"size={TMPFS_SIZE[name_keys]},mode=0700", "tmpfs", str(node.datadir)],
            capture_output=True, text=True, timeout=30)
        if mount.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs in a mount namespace: {mount.stderr.strip()}")
        disk = in_namespace(holder, node.datadir)
        extra = ["--replicas", "1", "--store-size", STORE_MB, "--cache-size", "0",
                 "--name-keys", name_keys]
        node.start(extra=extra)
        proxy = node.proxy(RPC_TIMEOUT_S)
        stored = {}                     # name -> the address it must resolve to

        def name_of(i):
            return f"host-{i}.full.example".encode()

        def addr_of(i, v=0):
            return f"192.0.2.{i % 250 + 1}:{20000 + v}".encode()

        for i in range(NAMES_BEFORE):
            assert register(proxy, name_of(i), addr_of(i)) == 0, i
            stored[name_of(i)] = addr_of(i)
        check_all(node, stored, "before the disk filled")

        # the disk fills up: a filler file takes all but LEAVE bytes, the node's own
        # registrations take the rest
        filler = disk / "filler"
        filled = fill(filler, LEAVE)
        clear = DISK_FULL_FAULTS[name_keys]

        def new_names_refused(first, what, may_take):
            """Registers new names from first on until REFUSALS in a row were refused,
            at most FILL_LIMIT; each refusal must be one of the clear ones, each name
            taken is kept (and must resolve). Returns the next unused name number."""
            i, row, taken, faults = first, 0, 0, []
            while row < REFUSALS:
                assert i < first + FILL_LIMIT, \
                    f"{what}: {taken} of {FILL_LIMIT} new names taken ({disk})"
                answer = register(proxy, name_of(i), addr_of(i))
                if answer == 0:
                    stored[name_of(i)] = addr_of(i)
                    taken, row = taken + 1, 0
                else:
                    assert isinstance(answer, xmlrpc.client.Fault) and any(
                        answer.faultCode == code and text in answer.faultString
                        for code, text in clear), f"{what}: {answer}"
                    faults.append(answer)
                    row += 1
                i += 1
            print(f"{what} ({name_keys} keys, tmpfs {TMPFS_SIZE[name_keys]}): {taken} new "
                  f"names taken, {len(faults)} refused, {os.statvfs(disk).f_bavail} "
                  f"blocks free; first refusal: {faults[0]}")
            assert taken <= may_take, f"{what}: {taken} new names taken"
            assert node.running(), node.log()[-2000:]
            return i

        print(f"\nfiller {filled} bytes, {LEAVE} left free; {len(stored)} names stored")
        i = new_names_refused(NAMES_BEFORE, "filling the disk", FILL_LIMIT)

        # reads and status go on; nothing stored is lost
        check_all(node, stored, "on the full disk")
        st = proxy.status()
        assert st["node_id"] == node.node_id
        assert st["overlay"]["store_records"] >= len(stored)

        # an update of a stored name needs no new key: it is taken, or refused as the
        # store being full; either way the name resolves to the record stored last
        old = name_of(0)
        answer = register(proxy, old, addr_of(0, 1))
        if answer == 0:
            stored[old] = addr_of(0, 1)
        else:
            assert answer.faultCode == 1 and \
                "refused: the replicas' storage is full" in answer.faultString, answer
        check_all(node, stored, "after an update on the full disk")

        # a restart on the full disk: the node comes up and still has everything
        node.stop()
        node.start(extra=extra)
        proxy = node.proxy(RPC_TIMEOUT_S)
        check_all(node, stored, "after a restart on the full disk")
        # a per-name key needs a new file, which the full disk cannot take; a record
        # signed by the node's key may still fit in a free page of the store
        i = new_names_refused(i, "after a restart on the full disk",
                              0 if name_keys == "per-name" else FILL_LIMIT)
        check_all(node, stored, "after the refusals past the restart")

        # room again: writes work, new names and updates
        filler.unlink()
        for j in range(5):
            assert register(proxy, name_of(i + j), addr_of(i + j)) == 0, i + j
            stored[name_of(i + j)] = addr_of(i + j)
        assert register(proxy, name_of(1), addr_of(1, 2)) == 0
        stored[name_of(1)] = addr_of(1, 2)
        check_all(node, stored, "with room again")

        # and a last restart loses nothing either
        node.stop()
        node.start(extra=extra)
        check_all(node, stored, "after the last restart")
        if name_keys == "per-name":
            assert len(list((disk / "keys").glob("*.pem"))) >= len(stored)
    finally:
        try:
            ns.close()
        finally:
            holder.kill()
            holder.wait(10)
            holder.stderr.close()
