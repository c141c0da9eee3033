#!/bin/sh
# Build the edge-gateway .deb from the working tree, out of tree, and print the path of the .deb.
#
#   image/build-deb.sh [OUTDIR]      (default OUTDIR: build/deb under the repository)
#
# The tree (tracked and untracked-but-not-ignored files, as they are on disk) is copied to a
# scratch directory and built there with `dpkg-buildpackage -us -uc -b`, so a build never leaves
# debian/edge-gateway/ or ../*.deb behind in a shared working tree. Needs: dh-virtualenv debhelper
# python3-dev python3-venv libsystemd-dev pkg-config (apt), and PyPI reachable (dh-virtualenv pip-
# installs the gateway's dependencies into the venv). pyenv and other venvs are taken off the PATH:
# the venv must be built on Debian's /usr/bin/python3, the interpreter the package depends on.
set -eu

repo=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$repo/build/deb}
mkdir -p "$out"
out=$(cd "$out" && pwd)
scratch=$(mktemp -d /tmp/edge-gateway-deb.XXXXXX)
trap 'rm -rf "$scratch"' EXIT

mkdir "$scratch/src"
(cd "$repo" && git ls-files -z --cached --others --exclude-standard \
    | xargs -0 -I{} sh -c 'test -e "{}" && printf "%s\0" "{}"' \
    | tar --null -T - -cf -) | tar -C "$scratch/src" -xf -

PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH
unset VIRTUAL_ENV PYENV_VERSION PYTHONPATH PYTHONHOME || true

start=$(date +%s)
(cd "$scratch/src" && dpkg-buildpackage -us -uc -b) > "$scratch/build.log" 2>&1 || {
    tail -n 60 "$scratch/build.log" >&2
    echo "build-deb: dpkg-buildpackage failed (log above)" >&2
    exit 1
}
cp "$scratch"/*.deb "$out"/
cp "$scratch/build.log" "$out/build.log"
echo "build-deb: built in $(( $(date +%s) - start )) s" >&2
ls -1t "$out"/edge-gateway_*_"$(dpkg --print-architecture)".deb | head -n 1
