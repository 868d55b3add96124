#!/bin/sh
# make demo: shows what p2pns does on this machine, step by step, with the built programs.
# usage: demo.sh BUILD_DIR
set -eu

B=${1:?usage: demo.sh BUILD_DIR}
KEYGEN="$B/bin/p2pns-keygen"
work=$(mktemp -d "${TMPDIR:-/tmp}/p2pns-demo.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

if [ -t 1 ]; then bold=$(printf '\033[1m'); plain=$(printf '\033[0m'); else bold= plain=; fi
step() { printf '\n%s== %s%s\n' "$bold" "$*" "$plain"; }
show() { printf '$ %s\n' "$*"; "$@"; }

step "1. A node identity: Ed25519 key pair, node ID = SHA-1(public key), both S/Kademlia puzzles"
echo "   (c1 = 16: SHA-1(node ID) needs 16 leading zero bits; c2 = 20: a nonce X such that"
echo "    SHA-1(node ID XOR X) has 20 leading zero bits; every node of an overlay pays this once)"
show "$KEYGEN" create --progress -o "$work/alice.pem"
show ls -l "$work/alice.pem"
show "$KEYGEN" show "$work/alice.pem"

step "2. The identity file is PEM: a standard PKCS#8 key plus the puzzle solution"
show openssl pkey -in "$work/alice.pem" -pubout
echo "   The same public key, as openssl reads it (last 32 bytes of the DER form):"
openssl pkey -in "$work/alice.pem" -pubout -outform DER | tail -c 32 | od -An -tx1 | tr -d ' \n'
echo

step "3. Moving the identity to another device: one line of text (it holds the private key)"
show "$KEYGEN" export "$work/alice.pem" -o "$work/alice.txt"
printf '$ cat %s\n' "$work/alice.txt"; cut -c1-40 "$work/alice.txt" | sed 's/$/... (shortened)/'
show "$KEYGEN" import -i "$work/alice.txt" -o "$work/alice-on-laptop.pem"
show "$KEYGEN" show "$work/alice-on-laptop.pem"

step "4. Files others can read are refused"
chmod 644 "$work/alice.pem"
printf '$ chmod 644 alice.pem; %s show alice.pem\n' "$KEYGEN"
"$KEYGEN" show "$work/alice.pem" || echo "   (refused, exit status $?)"

step "Done"
echo "   The identity layer works. The overlay daemon (p2pnsd) and its XML-RPC front end are"
echo "   not part of this build yet; see README.md for the design and what exists."
