#!/usr/bin/env bash
# Regenerates the test-only TLS fixtures that put HTTPS in front of the
# emulator for the Graph SDK fidelity test (see ../../sdk_fidelity.rs).
# Microsoft's clients speak only HTTPS: MSAL refuses an http authority and the
# Graph SDK attaches tokens to, and parses next links of, https URLs only.
# The keys protect nothing: they are for a loopback server in a test.
set -euo pipefail
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tmp/ca-key.pem"
openssl req -x509 -new -key "$tmp/ca-key.pem" -sha256 -days 36500 \
  -subj "/CN=TAC emulator test CA" \
  -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -out ca.pem
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out server-key.pem
openssl req -new -key server-key.pem -subj "/CN=127.0.0.1" -out "$tmp/server.csr"
cat > "$tmp/ext.cnf" <<'CNF'
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,DNS:localhost
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
CNF
openssl x509 -req -in "$tmp/server.csr" -CA ca.pem -CAkey "$tmp/ca-key.pem" -CAcreateserial \
  -CAserial "$tmp/ca.srl" -sha256 -days 36500 -extfile "$tmp/ext.cnf" -out server.pem
