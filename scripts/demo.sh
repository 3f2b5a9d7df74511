#!/usr/bin/env bash
# The Ferry demo, run by `./ferry.sh demo`, the whole flow: keys, a trust root, sample .deb files
# made with dpkg-deb, an OSV advisory, a signed bundle, verification, a delta bundle, a rotated
# root and a tampered copy that is refused; a relay that imports and serves them over TLS; three
# endpoints, each with a private dpkg root, enrolled and patched with real dpkg; signed evidence
# exported and checked with ferry-verify. Everything happens in build/demo/.
set -euo pipefail

BIN="${FERRY_BIN:?FERRY_BIN must point at the build directory}"
BUNDLE="$BIN/bundler/ferry-bundle"
RELAY="$BIN/relay/ferry-relay"
ROOT_DIR="$(cd "$(dirname "$0")/.." && pwd)"
WORK="$ROOT_DIR/build/demo"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() { printf '$ %s\n' "$*"; "$@"; }

rm -rf "$WORK"
mkdir -p "$WORK"/{keys,source,source2,advisories}
cd "$WORK"

# make_deb NAME VERSION ARCH DIR: a real package built with dpkg-deb.
make_deb() {
  local name="$1" version="$2" arch="$3" out="$4" tree
  tree="$(mktemp -d)"
  mkdir -p "$tree/DEBIAN" "$tree/usr/share/doc/$name"
  cat >"$tree/DEBIAN/control" <<CONTROL
Package: $name
Version: $version
Architecture: $arch
Maintainer: Ferry Demo <demo@ferry.invalid>
Section: libs
Priority: optional
Description: $name demo package
 A package built by the Ferry demo with dpkg-deb.
CONTROL
  head -c 200000 /dev/urandom >"$tree/usr/share/doc/$name/payload.bin"
  # The file name says nothing true on purpose: Ferry reads the control file, not the name.
  dpkg-deb --root-owner-group -Zxz --build "$tree" "$out/$(echo "$name" | tr -d '0-9')-pkg.deb" >/dev/null
  rm -rf "$tree"
}

step "1. Keys: one root key (encrypted) and two bundle keys"
echo "correct horse battery staple" >keys/passphrase
chmod 600 keys/passphrase
show "$BUNDLE" keygen --out keys/root --passphrase-file keys/passphrase
show "$BUNDLE" keygen --out keys/bundle-a --passphrase-file keys/passphrase
show "$BUNDLE" keygen --out keys/bundle-b --passphrase-file keys/passphrase
ls -l keys/

step "2. Trust root v1: root threshold 1, bundle threshold 2"
show "$BUNDLE" root init --root-key keys/root.key --threshold 1 \
  --bundle-key keys/bundle-a.pub keys/bundle-b.pub --bundle-threshold 2 \
  --expires 365d --out root.json --passphrase-file keys/passphrase
show "$BUNDLE" root show root.json

step "3. Patches: three .deb files made with dpkg-deb, one installer script, one OSV advisory"
make_deb libssl3 "3.0.11-1~deb12u1" amd64 source
make_deb openssl "3.0.11-1~deb12u1" amd64 source
make_deb tzdata "2024a-0+deb12u1" all source
cat >source/hotfix.sh <<'SCRIPT'
#!/bin/sh
echo "applying site hotfix"
exit 0
SCRIPT
cat >source/hotfix.payload.json <<'JSON'
{"id": "site-hotfix-1", "title": "Site hotfix 1", "kind": "script", "file": "hotfix.sh",
 "target_os": "debian-12", "arguments": ["--quiet"], "success_exit_codes": [0],
 "reboot_exit_codes": [3], "severity": "medium"}
JSON
cat >advisories/DSA-5532-1.json <<'JSON'
{
  "schema_version": "1.6.0",
  "id": "DSA-5532-1",
  "aliases": ["CVE-2023-5363"],
  "published": "2023-10-24T00:00:00Z",
  "modified": "2023-10-25T12:00:00Z",
  "summary": "openssl: incorrect cipher key and IV length processing",
  "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"}],
  "affected": [
    {"package": {"ecosystem": "Debian:12", "name": "openssl"},
     "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "3.0.11-1~deb12u1"}]}]},
    {"package": {"ecosystem": "Debian:12", "name": "libssl3"},
     "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "3.0.11-1~deb12u1"}]}]}
  ]
}
JSON
ls -l source/

step "4. Build bundle 1 of channel debian-12-security"
show "$BUNDLE" build --root root.json --key keys/bundle-a.key keys/bundle-b.key \
  --channel debian-12-security --sequence 1 --source source --advisories advisories \
  --expires 30d --passphrase-file keys/passphrase --out bundle-1.ferry
echo "stock tar lists it:"
show tar -tvf bundle-1.ferry

step "5. Verify it against the pinned root"
show "$BUNDLE" verify --root root.json bundle-1.ferry

step "6. A delta bundle: one new version, the rest left out because bundle 1 carried them"
cp source/*.deb source/hotfix.* source2/
make_deb libssl3 "3.0.13-1~deb12u1" amd64 source2
mv source2/libssl-pkg.deb source2/libssl3-new.deb
cp source/libssl-pkg.deb source2/libssl3-old.deb
show "$BUNDLE" build --root root.json --key keys/bundle-a.key keys/bundle-b.key \
  --channel debian-12-security --sequence 2 --source source2 --advisories advisories \
  --base bundle-1.ferry --passphrase-file keys/passphrase --out bundle-2.ferry
ls -l bundle-1.ferry bundle-2.ferry
show "$BUNDLE" verify --root root.json bundle-2.ferry

step "7. Root rotation: v2 replaces bundle key b with c; bundle 3 carries the chain"
show "$BUNDLE" keygen --out keys/bundle-c --passphrase-file keys/passphrase
show "$BUNDLE" root rotate --root root.json --sign-key keys/root.key \
  --bundle-key keys/bundle-a.pub keys/bundle-c.pub --expires 365d --out root-v2.json \
  --passphrase-file keys/passphrase
show "$BUNDLE" build --root root.json root-v2.json --key keys/bundle-a.key keys/bundle-c.key \
  --channel debian-12-security --sequence 3 --source source --passphrase-file keys/passphrase \
  --out bundle-3.ferry
echo "a site that pinned only root v1 follows the chain:"
show "$BUNDLE" verify --root root.json bundle-3.ferry

step "8. Hostile media: one flipped byte in a payload"
cp bundle-1.ferry tampered.ferry
size=$(stat -c %s tampered.ferry)
offset=$((size - 4096))
byte=$(od -An -tu1 -j "$offset" -N1 tampered.ferry | tr -d ' ')
printf "\\$(printf '%03o' $(( byte ^ 1 )))" | dd of=tampered.ferry bs=1 seek="$offset" conv=notrunc status=none
set +e
"$BUNDLE" verify --root root.json tampered.ferry
code=$?
set -e
echo "exit code $code (1 = the input failed verification)"
[ "$code" -eq 1 ]

step "9. The site relay: initialise it with the pinned root v1"
show "$RELAY" init --data relay --root root.json --site-id st-mary

step "10. Import from the media: out of order on purpose, the relay sorts by sequence"
show "$RELAY" import --data relay bundle-3.ferry bundle-2.ferry bundle-1.ferry
echo "the tampered copy is refused and leaves only an audit event:"
set +e
"$RELAY" import --data relay tampered.ferry
code=$?
set -e
echo "exit code $code"
[ "$code" -eq 1 ]
show "$RELAY" status --data relay
show "$RELAY" bundles --data relay

step "11. Approve what is high or critical, then ask what a machine needs"
show "$RELAY" approve --data relay --severity high
cat >sample-dpkg-status <<'STATUS'
Package: libssl3
Status: install ok installed
Priority: optional
Section: libs
Architecture: amd64
Version: 3.0.9-1
Description: Secure Sockets Layer toolkit - shared libraries

Package: openssl
Status: install ok installed
Priority: optional
Section: utils
Architecture: amd64
Version: 3.0.11-1~deb12u1
Description: Secure Sockets Layer toolkit - cryptographic utility

Package: tzdata
Status: install ok installed
Priority: required
Section: localization
Architecture: all
Version: 2023c-5+deb12u1
Description: time zone and daylight-saving time data

Package: bash
Status: install ok installed
Priority: required
Section: shells
Architecture: amd64
Version: 5.2.15-2+b2
Description: GNU Bourne Again SHell
STATUS
show "$RELAY" applicable --data relay --dpkg-status sample-dpkg-status
echo "(openssl is already at the patched version; bash has no patch in the catalog)"

step "12. The audit log and a full store check"
show "$RELAY" events --data relay
show "$RELAY" fsck --data relay

# ============================================================================================
# Distribution (issue 4): the relay serves over TLS, three endpoints enrol and are patched with
# real dpkg, each in a private dpkg root so the demo never touches this machine's packages.
# ============================================================================================
AGENT="$BIN/endpoint/ferry-agent"
SERVE_PID=""
stop_relay() {
  if [ -n "$SERVE_PID" ]; then kill -TERM "$SERVE_PID" 2>/dev/null || true; wait "$SERVE_PID" 2>/dev/null || true; fi
  SERVE_PID=""
}
trap stop_relay EXIT

# installed ROOT: what dpkg's own database in the private root says is installed.
installed() {
  dpkg-query --admindir="$1/var/lib/dpkg" -W -f='    ${Package} ${Version}\n' 2>/dev/null
}

step "13. Serve: HTTPS on loopback, the relay's own CA, one-time enrolment tokens"
"$RELAY" serve --data relay --listen 127.0.0.1:0 >serve.out 2>serve.log &
SERVE_PID=$!
for _ in $(seq 100); do grep -q '^listening on ' serve.out 2>/dev/null && break; sleep 0.1; done
cat serve.out
URL="https://$(sed -n 's/^listening on //p' serve.out)"
echo "the CA fingerprint an installer compares by eye:"
openssl x509 -in relay/tls/ca.pem -noout -fingerprint -sha256
show "$RELAY" approve --data relay --all

step "14. Three endpoints, each with its own dpkg root holding the old versions"
mkdir -p old
make_deb libssl3 "3.0.9-1" amd64 old
make_deb openssl "3.0.9-1" amd64 old
make_deb tzdata "2023c-5+deb12u1" all old
for n in 1 2 3; do
  "$ROOT_DIR/scripts/make-dpkg-root.sh" "endpoint-$n/root"
  dpkg --root="endpoint-$n/root" --log="endpoint-$n/root/var/log/dpkg.log" -i old/*.deb >/dev/null
  token="$("$RELAY" token create --data relay --expires 1h)"
  show "$AGENT" enroll --relay "$URL" --ca relay/tls/ca.pem --root root.json --token "$token" \
    --state "endpoint-$n/state" --hostname "ward-$n"
  echo "  endpoint-$n before:"
  installed "endpoint-$n/root"
done
echo "a token works once; a second use is refused (exit 1):"
set +e
"$AGENT" enroll --relay "$URL" --ca relay/tls/ca.pem --root root.json --token "$token" \
  --state endpoint-x/state
echo "exit code $?"
set -e

step "15. Endpoints 1 and 2 check in, verify against their own pinned root, install, report"
for n in 1 2; do
  show "$AGENT" run --once --state "endpoint-$n/state" --dpkg-root "endpoint-$n/root"
  echo "  endpoint-$n after:"
  installed "endpoint-$n/root"
done
show "$AGENT" status --state endpoint-1/state
show "$RELAY" endpoints --data relay
echo "curl, as an independent client, fetches 16 bytes of a payload with endpoint 1's certificate:"
sha="$("$RELAY" patches --data relay --json | sed -n 's/.*"sha256": *"\([0-9a-f]\{64\}\)".*/\1/p' | head -1)"
curl -sS --cacert relay/tls/ca.pem --cert endpoint-1/state/client.pem \
  --key endpoint-1/state/client.key -r 0-15 "$URL/v1/payloads/$sha" | od -A d -t x1 | head -2

# ============================================================================================
# Evidence (issue 5): the relay's signed audit log leaves the site and an auditor checks it.
# ============================================================================================
VERIFY="$BIN/evidence/ferry-verify"

step "16. Evidence: a deadline exception, a signed export, ferry-verify as the auditor runs it"
show "$RELAY" exception add --data relay --patch tzdata_2024a-0+deb12u1_all --until 90d \
  --reason "lab analyser certified on the old zone data only; vendor fix due next quarter"
show "$RELAY" exception list --data relay
echo "the auditor asked for nonce demo-audit-1; the label names the USB stick it leaves on:"
show "$RELAY" evidence export --data relay --out evidence-1.tar --nonce demo-audit-1 \
  --label "USB stick DEMO-1 to the auditor"
tar -tvf evidence-1.tar
show "$VERIFY" --relay-key relay/identity.pub evidence-1.tar --nonce demo-audit-1

step "17. Endpoint 3 was away; it patches now, and the next export chains from the first"
show "$AGENT" run --once --state endpoint-3/state --dpkg-root endpoint-3/root
echo "  endpoint-3 after:"
installed endpoint-3/root
show "$RELAY" evidence export --data relay --out evidence-2.tar --since-last
show "$VERIFY" --relay-key relay/identity.pub evidence-2.tar --previous evidence-1.tar
show "$RELAY" evidence list --data relay

step "18. A tampered export: one event edited on the way"
echo "the refused import becomes an accepted one, in place, same length:"
cp evidence-1.tar tampered-evidence.tar
sed -i 's/"type":"import.rejected"/"type":"import.accepted"/' tampered-evidence.tar
set +e
"$VERIFY" --relay-key relay/identity.pub tampered-evidence.tar
code=$?
set -e
echo "exit code $code (1 = tampered, incomplete, rolled back or forked)"
[ "$code" -eq 1 ]

stop_relay
echo "the relay stopped on SIGTERM after draining; its request log:"
tail -n 5 serve.log

step "Done: the demo's files are in $WORK"
