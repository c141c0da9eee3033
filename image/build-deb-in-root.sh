#!/bin/sh
# Build the edge-gateway .deb inside a Debian root of the target architecture (arm64 under
# qemu-user on an amd64 machine) and print the path of the .deb.
#
#   image/build-deb-in-root.sh ROOT OUTDIR
#
# ROOT is a scratch copy of a debootstrap root (build-debian-image.sh passes one and deletes it
# afterwards): the build dependencies are installed into it with apt. dh-virtualenv pip-installs
# the gateway's Python dependencies from PyPI; pydantic-core and lgpio come as aarch64 wheels,
# systemd-python is compiled. pip inside the root is given this machine's CA bundle, since a
# chroot's own bundle may lack a CA that the host's network needs. Everything runs in
# systemd-nspawn, with the host's network and resolv.conf.
set -eu
# The whole script is one block, read before it runs: editing the file during a build is safe.
{

root=$(realpath "$1")
out=$(mkdir -p "$2" && realpath "$2")
repo=$(cd "$(dirname "$0")/.." && pwd)
log=$out/build-in-root.log

run_in() { systemd-nspawn --quiet --register=no --keep-unit -D "$root" --resolv-conf=replace-host \
    --setenv=DEBIAN_FRONTEND=noninteractive "$@"; }

install -D -m 0644 /etc/ssl/certs/ca-certificates.crt "$root/root/host-ca-bundle.crt"
echo "build-deb-in-root: installing build dependencies" >&2
run_in sh -c 'apt-get update && apt-get install -y --no-install-recommends dh-virtualenv \
    debhelper python3-dev python3-venv libsystemd-dev pkg-config build-essential' > "$log" 2>&1 \
    || { tail -n 40 "$log" >&2; echo "build-deb-in-root: apt failed" >&2; exit 1; }

rm -rf "$root/root/build" && mkdir -p "$root/root/build/src"
(cd "$repo" && git ls-files -z --cached --others --exclude-standard \
    | xargs -0 -I{} sh -c 'test -e "{}" && printf "%s\0" "{}"' \
    | tar --null -T - -cf -) | tar -C "$root/root/build/src" -xf -

echo "build-deb-in-root: dpkg-buildpackage (under qemu this takes minutes)" >&2
run_in --chdir=/root/build/src --setenv=PIP_CERT=/root/host-ca-bundle.crt \
    dpkg-buildpackage -us -uc -b >> "$log" 2>&1 \
    || { tail -n 60 "$log" >&2; echo "build-deb-in-root: dpkg-buildpackage failed" >&2; exit 1; }
cp "$root"/root/build/edge-gateway_*.deb "$out"/
ls -1t "$out"/edge-gateway_*_"$(run_in dpkg --print-architecture | tr -d '\r')".deb | head -n 1
exit
}
