#!/bin/sh
# Boot a copy of a built image's partitions under systemd-nspawn (qemu-user for arm64 on amd64)
# and check that the gateway comes up from it: first-boot provisioning, edge-gateway.service
# active (running) through Type=notify, and a paho subscriber receiving what `edge-gateway pub`
# publishes as the provisioned admin user (tests/boot/inside.py --quick). The image itself is
# not changed: the check runs on a sparse copy, loop-mounted as the device would mount it
# (RASPIROOT at /, EGW-DATA at /var/lib/edge-gateway; RASPIFIRM's files at /boot/firmware).
#
#   image/check-image.sh IMAGE.img            (needs root, loop devices, systemd-container)
#
# What a container cannot show: the kernel, the firmware, the hardware watchdog and the network
# on a real Pi; flash a card for those.
set -eu
# The whole script is one block, read before it runs: editing the file during a build is safe.
{

img=$(realpath "$1")
repo=$(cd "$(dirname "$0")/.." && pwd)
scratch=$(mktemp -d /var/tmp/edge-gateway-check.XXXXXX)
mnt=$scratch/root
cleanup() {
    umount "$mnt/boot/firmware" "$mnt/var/lib/edge-gateway" "$mnt" 2>/dev/null || true
    rm -rf "$scratch"
}
trap cleanup EXIT

cp --sparse=always "$img" "$scratch/copy.img"
offset() { sfdisk -J "$scratch/copy.img" | python3 -c "
import json, sys
part = json.load(sys.stdin)['partitiontable']['partitions'][$1 - 1]
print(part['start'] * 512, part['size'] * 512)"; }
mount_part() {  # number, mount point
    set -- "$1" "$2" $(offset "$1")
    mount -o loop,offset="$3",sizelimit="$4" "$scratch/copy.img" "$2"
}
mkdir -p "$mnt"
mount_part 2 "$mnt"
# The FAT partition is copied out with mtools and bind-mounted (a machine without vfat in its
# kernel, like our CI's, can still check the image).
set -- $(offset 1)
mkdir -p "$scratch/firmware"
mcopy -s -n -i "$scratch/copy.img@@$1" '::/*' "$scratch/firmware/"
mount --bind "$scratch/firmware" "$mnt/boot/firmware"
mount_part 3 "$mnt/var/lib/edge-gateway"

install -D -m 0644 "$repo/tests/boot/inside.py" "$mnt/usr/local/lib/boot-test/inside.py"
cat > "$mnt/etc/systemd/system/image-check.service" <<'UNIT'
[Unit]
Description=Pi Edge Gateway image check (tests/boot/inside.py --quick)
After=multi-user.target
SuccessAction=poweroff-force
FailureAction=poweroff-force
[Service]
Type=oneshot
ExecStart=/opt/edge-gateway/venv/bin/python /usr/local/lib/boot-test/inside.py --quick
TimeoutStartSec=300
UNIT
ln -sf /etc/systemd/system/image-check.service "$mnt/etc/systemd/system/multi-user.target.wants/"

if [ "$(uname -m)" != aarch64 ]; then
    # Under qemu-user, an emulated PID 1 cannot set up a unit's private network namespace
    # ("Failed to set up network namespacing: Input/output error") nor its user namespace
    # ("Failed to set up user namespacing: Invalid argument"; unshare(CLONE_NEWUSER) refuses a
    # multithreaded caller, and qemu-user runs threads of its own in every process). Both work
    # natively (tests/boot, amd64). For this check only, in the scratch copy, the two units go
    # without them; the container's own network is private anyway.
    install -D -m 0644 /dev/stdin \
        "$mnt/etc/systemd/system/edge-gateway-provision.service.d/qemu-user-check.conf" <<'DROPIN'
[Service]
PrivateNetwork=no
DROPIN
    install -D -m 0644 /dev/stdin \
        "$mnt/etc/systemd/system/edge-gateway.service.d/qemu-user-check.conf" <<'DROPIN'
[Service]
PrivateUsers=no
DROPIN
fi

start=$(date +%s)
# The watchdog runtime setting needs /dev/watchdog, which a container has not: harmless here.
timeout --kill-after=30 420 systemd-nspawn --quiet --register=no --keep-unit --private-network \
    -D "$mnt" -b > "$scratch/console.log" 2>&1 || true
echo "check-image: boot under nspawn took $(( $(date +%s) - start )) s" >&2
results=$mnt/var/lib/boot-test/results.json
[ -f "$results" ] || { tail -n 40 "$scratch/console.log" >&2; echo "check-image: no results" >&2; exit 1; }
cp "$results" "$(dirname "$img")/check-results.json"
python3 - "$results" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
problems = []
if "error" in r:
    problems.append(r["error"])
props = r.get("boot", {}).get("props", {})
if (props.get("Type"), props.get("ActiveState"), props.get("SubState")) != ("notify", "active", "running"):
    problems.append(f"edge-gateway.service: {props}")
if r.get("boot", {}).get("provision", {}).get("Result") != "success":
    problems.append("provisioning did not succeed")
step = r.get("pubsub", {})
if step.get("received") != [[f"boot/{step.get('tag')}", step.get("sent")]]:
    problems.append(f"pub/sub: {step}")
if step.get("anonymous_connack") != "Not authorized":
    problems.append(f"anonymous client: {step.get('anonymous_connack')}")
for p in problems:
    print("check-image: FAILED:", p, file=sys.stderr)
if problems:
    sys.exit(1)
print(f"check-image: OK: provisioned, edge-gateway active (running) via Type=notify, "
      f"pub/sub as admin works, anonymous refused ({r.get('seconds')} s of checks)")
PY
exit
}
