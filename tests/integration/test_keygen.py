"""p2pns-keygen as a real process: create, show, export, import. Node IDs and puzzles are
checked with hashlib and the openssl command, never with p2pns code."""
import base64
import hashlib
import os
import re
import stat
import subprocess

import pytest

PREFIX = "p2pns-identity-1:"


def run(*args, input=None, check=True):
    proc = subprocess.run(list(args), input=input, capture_output=True, text=True, timeout=120)
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} exited {proc.returncode}: {proc.stderr}")
    return proc


def leading_zero_bits(digest: bytes) -> int:
    value = int.from_bytes(digest, "big")
    return len(digest) * 8 - value.bit_length()


def sha1(data: bytes) -> bytes:
    return hashlib.sha1(data).digest()


def parse_show(text: str) -> dict:
    fields = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        fields[key.strip()] = value.strip()
    return fields


def raw_public_key(pem_path) -> bytes:
    """The raw Ed25519 public key as the openssl command reads it from the file."""
    der = subprocess.run(["openssl", "pkey", "-in", str(pem_path), "-pubout", "-outform", "DER"],
                         capture_output=True, check=True, timeout=30).stdout
    # SubjectPublicKeyInfo for Ed25519: 12-byte header, then the 32-byte key
    assert len(der) == 44 and der[:12] == bytes.fromhex("302a300506032b6570032100")
    return der[12:]


def check_identity(fields: dict, c1: int, c2: int):
    node_id = bytes.fromhex(fields["node-id"])
    pub = bytes.fromhex(fields["public-key"])
    nonce = bytes.fromhex(fields["nonce"])
    assert len(node_id) == 20 and len(pub) == 32 and len(nonce) == 20
    assert sha1(pub) == node_id
    assert leading_zero_bits(sha1(node_id)) >= c1
    xored = bytes(a ^ b for a, b in zip(node_id, nonce))
    assert leading_zero_bits(sha1(xored)) >= c2
    assert fields["c1"].split()[0] == str(c1)
    assert fields["c2"].split()[0] == str(c2)
    # the bit counts it prints are the real ones
    assert f"has {leading_zero_bits(sha1(node_id))} leading" in fields["c1"]
    assert f"has {leading_zero_bits(sha1(xored))} leading" in fields["c2"]
    return node_id, pub, nonce


@pytest.mark.parametrize("c1,c2", [(0, 0), (6, 10), (12, 14)])
def test_create_show_export_import_round_trip(tmp_path, keygen, c1, c2):
    ident = tmp_path / "node.pem"
    created = run(keygen, "create", "--c1", str(c1), "--c2", str(c2), "-o", str(ident))
    assert stat.S_IMODE(os.stat(ident).st_mode) == 0o600
    assert re.search(r"^node-id: [0-9a-f]{40}$", created.stdout, re.M)

    shown = parse_show(run(keygen, "show", str(ident)).stdout)
    node_id, pub, nonce = check_identity(shown, c1, c2)
    assert created.stdout.split()[-1] == node_id.hex()
    # the key in the file is the key it shows (read back by openssl)
    assert raw_public_key(ident) == pub

    text = run(keygen, "export", str(ident)).stdout.strip()
    assert text.startswith(PREFIX)
    payload = bytes.fromhex(text[len(PREFIX):])
    assert len(payload) == 2 + 32 + 20 + 4
    assert payload[0] == c1 and payload[1] == c2
    assert payload[34:54] == nonce
    assert payload[54:] == sha1(payload[:54])[:4]

    moved = tmp_path / "moved.pem"
    run(keygen, "import", "-o", str(moved), input=text + "\n")
    assert stat.S_IMODE(os.stat(moved).st_mode) == 0o600
    assert parse_show(run(keygen, "show", str(moved)).stdout) == shown
    assert raw_public_key(moved) == pub

    # import from a file given with -i, exported to a file given with -o
    exported = tmp_path / "export.txt"
    run(keygen, "export", str(ident), "-o", str(exported))
    assert stat.S_IMODE(os.stat(exported).st_mode) == 0o600
    again = tmp_path / "again.pem"
    run(keygen, "import", "-i", str(exported), "-o", str(again))
    assert parse_show(run(keygen, "show", str(again)).stdout) == shown


def test_default_difficulties_are_16_and_20(tmp_path, keygen):
    ident = tmp_path / "default.pem"
    run(keygen, "create", "-o", str(ident))
    check_identity(parse_show(run(keygen, "show", str(ident)).stdout), 16, 20)


def test_progress_shows_attempts_rate_and_time(tmp_path, keygen):
    proc = run(keygen, "create", "--c1", "10", "--c2", "12", "--progress",
               "-o", str(tmp_path / "p.pem"))
    assert re.search(r"static puzzle\s+c1=10\s+\d+ keys\s+\d+ keys/s\s+[\d.]+ s", proc.stderr)
    assert re.search(r"dynamic puzzle c2=12\s+\d+ nonces\s+\d+ nonces/s", proc.stderr)
    quiet = run(keygen, "create", "--c1", "4", "--c2", "4", "-q", "-o", str(tmp_path / "q.pem"))
    assert quiet.stdout == "" and quiet.stderr == ""


def test_refuses_group_or_world_readable_file(tmp_path, keygen):
    ident = tmp_path / "node.pem"
    run(keygen, "create", "--c1", "4", "--c2", "4", "-o", str(ident))
    for mode in (0o644, 0o640, 0o604):
        os.chmod(ident, mode)
        for cmd in ("show", "export"):
            proc = run(keygen, cmd, str(ident), check=False)
            assert proc.returncode == 1
            assert "mode 0600" in proc.stderr
            assert proc.stdout == ""
    os.chmod(ident, 0o600)
    run(keygen, "show", str(ident))


def test_does_not_overwrite_without_force(tmp_path, keygen):
    ident = tmp_path / "node.pem"
    run(keygen, "create", "--c1", "4", "--c2", "4", "-o", str(ident))
    before = ident.read_bytes()
    proc = run(keygen, "create", "--c1", "4", "--c2", "4", "-o", str(ident), check=False)
    assert proc.returncode == 1 and "exists" in proc.stderr
    assert ident.read_bytes() == before
    text = run(keygen, "export", str(ident)).stdout
    proc = run(keygen, "import", "-o", str(ident), input=text, check=False)
    assert proc.returncode == 1 and "--force" in proc.stderr
    run(keygen, "create", "--c1", "4", "--c2", "4", "--force", "-o", str(ident))
    assert ident.read_bytes() != before


def test_import_rejects_damaged_text(tmp_path, keygen):
    ident = tmp_path / "node.pem"
    run(keygen, "create", "--c1", "4", "--c2", "6", "-o", str(ident))
    text = run(keygen, "export", str(ident)).stdout.strip()
    flipped = text[:-10] + ("0" if text[-10] != "0" else "1") + text[-9:]
    for bad in (text[:-1], text + "00", flipped, "", "x" * 5000, text.replace(PREFIX, "id:")):
        out = tmp_path / "bad.pem"
        proc = run(keygen, "import", "-o", str(out), input=bad, check=False)
        assert proc.returncode == 1, bad
        assert "cannot import" in proc.stderr or "not an identity" in proc.stderr
        assert not out.exists()


def test_show_rejects_damaged_files(tmp_path, keygen):
    ident = tmp_path / "node.pem"
    run(keygen, "create", "--c1", "8", "--c2", "8", "-o", str(ident))
    pem = ident.read_text()
    cases = {
        "truncated.pem": pem[: len(pem) // 2],
        "empty.pem": "",
        "garbage.pem": "not an identity\n",
        "nopuzzle.pem": pem.split("-----BEGIN P2PNS PUZZLE")[0],
    }
    for name, content in cases.items():
        path = tmp_path / name
        path.write_text(content)
        os.chmod(path, 0o600)
        proc = run(keygen, "show", str(path), check=False)
        assert proc.returncode == 1, name
        assert "malformed identity" in proc.stderr, (name, proc.stderr)
    # a key whose ID does not meet the difficulty the file claims
    proc = run(keygen, "create", "--c1", "0", "--c2", "0", "-o", str(tmp_path / "weak.pem"))
    weak = (tmp_path / "weak.pem").read_text()
    node_id = bytes.fromhex(proc.stdout.split()[-1])
    if leading_zero_bits(sha1(node_id)) < 20:
        key_part, _, _ = weak.partition("-----BEGIN P2PNS PUZZLE")
        # c1 = 20, c2 = 0 and a zero nonce, as a puzzle block
        block = base64.b64encode(bytes([1, 20, 0]) + bytes(20)).decode()
        forged = tmp_path / "forged.pem"
        forged.write_text(key_part + "-----BEGIN P2PNS PUZZLE-----\n" + block +
                          "\n-----END P2PNS PUZZLE-----\n")
        os.chmod(forged, 0o600)
        proc = run(keygen, "show", str(forged), check=False)
        assert proc.returncode == 1 and "crypto puzzles" in proc.stderr


def test_help_and_usage_errors(keygen):
    main = run(keygen, "--help")
    for cmd in ("create", "show", "export", "import"):
        assert cmd in main.stdout
        sub = run(keygen, cmd, "--help")
        assert sub.stdout.startswith(f"usage: p2pns-keygen {cmd}")
    assert run(keygen, "--version").stdout.startswith("p2pns-keygen ")
    for args in ([], ["frobnicate"], ["create"], ["create", "--c1", "41", "-o", "x"],
                 ["create", "--c2", "abc", "-o", "x"], ["create", "--threads", "0", "-o", "x"],
                 ["show"], ["show", "a", "b"], ["show", "--output", "x", "a"], ["import"]):
        proc = run(keygen, *args, check=False)
        assert proc.returncode == 2, args
        assert "usage:" in proc.stderr
