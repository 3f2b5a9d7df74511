#!/usr/bin/env bash
# Makes DIR a private dpkg root, the same skeleton as ferry::endpoint::CreateDpkgRoot: dpkg's
# database directories under DIR/var/lib/dpkg with empty status and available files, and DIR/var/log
# for dpkg's log. Existing files are kept, so running it twice is harmless.
#
#   scripts/make-dpkg-root.sh DIR
#   ferry-agent run --state STATE --dpkg-root DIR     # installs go into DIR, never into /
#   dpkg --root=DIR -l                                # dpkg's own view of what is installed
#
# docs/installers.md describes what such a root can and cannot do (maintainer scripts need a
# shell inside it, and root).
set -euo pipefail

if [ $# -ne 1 ] || [ -z "$1" ]; then
  echo "usage: $0 DIR" >&2
  exit 2
fi
dir="$1"
mkdir -p "$dir"/var/lib/dpkg/{info,updates,triggers} "$dir"/var/log
for f in status available; do
  [ -e "$dir/var/lib/dpkg/$f" ] || : > "$dir/var/lib/dpkg/$f"
done
