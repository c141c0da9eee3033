#!/bin/sh
# Boot a copy of a built image's partitions under systemd-nspawn (qemu-user for arm64 on amd64)
# and check that the gateway comes up from it: first-boot provisioning, edge-gateway.service
# active (running) through Type=notify, and a paho subscriber receiving what `edge-gateway pub`
# publishes as the provisioned admin user (tests/boot/inside.py --quick). The image itself is
# not changed: the check runs on a sparse copy, loop-mounted as the device would mount it
# (RASPIROOT at /, EGW-DATA at /var/lib/edge-gateway; RASPIFIRM's files at /boot/firmware).
#
# Then the first-boot additions:
#  * Wi-Fi: the copy's sysconf.txt gets wifi_ssid/wifi_psk/wifi_country (IEEE 802.11i H.4's test
#    passphrase); after the boot, wpa_supplicant-wlan0.conf must hold the test vector's PSK, be
#    root's and 0600, wpa_supplicant@wlan0 be enabled and the passphrase gone from sysconf.txt.
#  * Growth: edge-gateway-growfs.service enabled, ordered before the gateway and its provisioning,
#    after the data partition's mount (in a container it is skipped by its condition). Then the
#    image's own edge-gateway-growfs and growpart (both shell scripts) run on a second copy,
#    enlarged by 6 GiB like a bigger card, attached as a loop device with its partitions:
#    EGW-DATA must end at the end of the disk, its file system fill it, a second run change
#    nothing, and e2fsck -f find no problem. Where this machine's root lacks CAP_SYS_RESOURCE
#    (the kernel's online ext4 resize needs it; some containers drop it), the resize2fs step is
#    shown to fail for that reason only and is done offline instead, and the check says so.
#
#   image/check-image.sh IMAGE.img|IMAGE.img.xz   (needs root, loop devices, systemd-container)
#
# What a container cannot show: the kernel, the firmware, the hardware watchdog, the Wi-Fi radio
# and the network on a real Pi; flash a card for those.
set -eu
# The whole script is one block, read before it runs: editing the file during a build is safe.
{

img=$(realpath "$1")
repo=$(cd "$(dirname "$0")/.." && pwd)
scratch=$(mktemp -d /var/tmp/edge-gateway-check.XXXXXX)
mnt=$scratch/root
loop=""
# shellcheck disable=SC2317  # called by the trap
cleanup() {
    umount "$scratch/grow-data" 2>/dev/null || true
    [ -z "$loop" ] || losetup -d "$loop" 2>/dev/null || true
    umount "$mnt/boot/firmware" "$mnt/var/lib/edge-gateway" "$mnt" 2>/dev/null || true
    rm -rf "$scratch"
}
trap cleanup EXIT
failures=0
fail() { echo "check-image: FAILED: $*" >&2; failures=$((failures + 1)); }
ok() { echo "check-image: OK: $*" >&2; }

case $img in
    *.xz) xz -dc "$img" | dd of="$scratch/copy.img" bs=1M conv=sparse status=none ;;
    *) cp --sparse=always "$img" "$scratch/copy.img" ;;
esac
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

# Wi-Fi settings as a user would put them on the FAT partition (IEEE 802.11i-2004 H.4 vector).
wifi_ssid=ThisIsASSID
wifi_pass=ThisIsAPassword
wifi_psk=0dc0d6eb90555ed6419756b9a15ec3e3209b63df707dd508d14581f8982721af
printf 'wifi_ssid=%s\r\nwifi_psk=%s\r\nwifi_country=de\r\n' "$wifi_ssid" "$wifi_pass" \
    >> "$scratch/firmware/sysconf.txt"

install -D -m 0644 "$repo/tests/boot/inside.py" "$mnt/usr/local/lib/boot-test/inside.py"
cat > "$mnt/etc/systemd/system/image-check.service" <<'UNIT'
[Unit]
Description=Pi Edge Gateway image check (tests/boot/inside.py --quick)
After=multi-user.target
SuccessAction=poweroff-force
FailureAction=poweroff-force
[Service]
Type=oneshot
ExecStartPre=-/usr/local/lib/boot-test/image-state.sh
ExecStart=/opt/edge-gateway/venv/bin/python /usr/local/lib/boot-test/inside.py --quick
TimeoutStartSec=300
UNIT
ln -sf /etc/systemd/system/image-check.service "$mnt/etc/systemd/system/multi-user.target.wants/"
# What systemd itself says about the first-boot units (read back after the boot).
install -D -m 0755 /dev/stdin "$mnt/usr/local/lib/boot-test/image-state.sh" <<'STATE'
#!/bin/sh
mkdir -p /var/lib/boot-test
exec > /var/lib/boot-test/image-state.txt 2>&1
for unit in edge-gateway-growfs.service edge-gateway-sysconf.service \
        wpa_supplicant@wlan0.service wpa_supplicant.service; do
    echo "$unit IsEnabled=$(systemctl is-enabled "$unit")"
    systemctl show "$unit" -p LoadState,ActiveState,Result,ConditionResult,Before,After,WantedBy \
        | sed "s|^|$unit |"
done
echo "wait-online $(systemctl show systemd-networkd-wait-online.service -p ExecStart)"
systemd-analyze verify --man=no edge-gateway-growfs.service edge-gateway-sysconf.service 2>&1 \
    | sed 's/^/verify /'
journalctl -o cat -u edge-gateway-sysconf.service | sed 's/^/sysconf-journal /'
STATE

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
tls = r.get("tls", {})
if tls.get("connack") != "Success" or "IP Address:127.0.0.1" not in tls.get("san", ""):
    problems.append(f"TLS listener with the device's CA: {tls}")
check = r.get("check_config", {})
if check.get("rc") != 0 or check.get("which") != "/usr/bin/edge-gateway":
    problems.append(f"edge-gateway check-config on PATH: {check}")
for p in problems:
    print("check-image: FAILED:", p, file=sys.stderr)
if problems:
    sys.exit(1)
print(f"check-image: OK: provisioned, edge-gateway active (running) via Type=notify, "
      f"pub/sub as admin works, anonymous refused, TLS on 8883 verified with the device's CA, "
      f"edge-gateway check-config on PATH ({r.get('seconds')} s of checks)")
PY

# ── the first-boot units, as systemd saw them ─────────────────────────────────────────────────
state=$mnt/var/lib/boot-test/image-state.txt
cp "$state" "$(dirname "$img")/check-image-state.txt"
prop() { sed -n "s|^$1 $2=||p" "$state"; }
# systemctl show quotes and escapes a name with a backslash: "var-lib-edge\\x2dgateway.mount".
unquote() { sed -e 's/"//g' -e 's/\\\\/\\/g'; }
contains() { case " $(prop "$1" "$2" | unquote) " in *" $3 "*) return 0 ;; esac; return 1; }
f0=$failures
g=edge-gateway-growfs.service
[ "$(prop $g IsEnabled)" = enabled ] || fail "$g is not enabled: $(prop $g IsEnabled)"
for unit in edge-gateway.service edge-gateway-provision.service; do
    contains $g Before $unit || fail "$g is not ordered before $unit: $(prop $g Before)"
done
contains $g After 'var-lib-edge\x2dgateway.mount' || fail "$g is not after the data mount: $(prop $g After)"
contains $g WantedBy multi-user.target || fail "$g is not wanted by multi-user.target"
[ "$(prop $g ConditionResult)" = no ] || fail "$g ran in a container: $(prop $g ConditionResult)"
s=edge-gateway-sysconf.service
[ "$(prop $s Result)" = success ] || fail "$s: $(prop $s Result); $(grep '^sysconf-journal' "$state")"
contains $s Before wpa_supplicant@wlan0.service || fail "$s is not ordered before wpa_supplicant@wlan0"
w=wpa_supplicant@wlan0.service
if [ "$(prop $w IsEnabled)" != enabled ] || [ "$(prop $w LoadState)" != loaded ]; then
    fail "$w: enabled=$(prop $w IsEnabled) load=$(prop $w LoadState)"
fi
[ "$(prop wpa_supplicant.service IsEnabled)" = disabled ] \
    || fail "the D-Bus wpa_supplicant.service is $(prop wpa_supplicant.service IsEnabled)"
grep -q '^wait-online ExecStart=.*--any' "$state" || fail "networkd-wait-online without --any"
! grep -q '^verify ' "$state" || fail "systemd-analyze verify: $(grep '^verify ' "$state")"
conf=$mnt/etc/wpa_supplicant/wpa_supplicant-wlan0.conf
if [ ! -f "$conf" ]; then
    fail "no $conf after the boot"
else
    [ "$(stat -c '%a %U' "$conf")" = "600 root" ] || fail "$conf is $(stat -c '%a %U' "$conf")"
    grep -qx "	psk=$wifi_psk" "$conf" || fail "$conf does not hold the IEEE H.4 PSK: $(grep psk= "$conf")"
    grep -qx "	ssid=$(printf %s "$wifi_ssid" | od -An -v -tx1 | tr -d ' \n')" "$conf" \
        || fail "$conf: wrong ssid"
    grep -qx "country=DE" "$conf" || fail "$conf: no country=DE"
fi
! grep -q "$wifi_pass" "$scratch/firmware/sysconf.txt" || fail "the passphrase is still in sysconf.txt"
grep -qx "#wifi_ssid=$wifi_ssid" "$scratch/firmware/sysconf.txt" || fail "wifi_ssid not commented out"
[ "$failures" = "$f0" ] && ok "Wi-Fi from sysconf.txt (hashed PSK, 0600, passphrase gone, unit enabled);" \
    "$g enabled, before the gateway and its provisioning, after the data mount, skipped in a container"

# ── growing the data partition on a bigger "card" ──────────────────────────────────────────────
# The image's own edge-gateway-growfs and growpart (shell scripts); sfdisk, partx and resize2fs are
# this machine's, which for Debian 12 are the same versions as in the image (printed below).
versions() {
    dpkg-query ${1:+--admindir="$1/var/lib/dpkg"} -W -f '${Package} ${Version}\n' e2fsprogs fdisk util-linux \
        | paste -sd ' '
}
echo "check-image: growth test; this machine: $(versions); the image: $(versions "$mnt")" >&2
f0=$failures
mkdir -p "$scratch/bin" "$scratch/grow-data"
ln -s "$mnt/usr/bin/growpart" "$scratch/bin/growpart"
growfs() { PATH=$scratch/bin:$PATH sh "$mnt/usr/local/sbin/edge-gateway-growfs" "$scratch/grow-data" 2>&1; }
fs_bytes() { dumpe2fs -h "$1" 2>/dev/null | awk -F: '/^Block count/ {n=$2} /^Block size/ {b=$2} END {printf "%.0f\n", n*b}'; }
cp --sparse=always "$scratch/copy.img" "$scratch/grow.img"
truncate -s +6G "$scratch/grow.img"
loop=$(losetup -P -f --show "$scratch/grow.img")
[ -b "${loop}p3" ] || partx -a "$loop"
data=${loop}p3
before=$(fs_bytes "$data")
mount "$data" "$scratch/grow-data"
echo "check-image growth marker" > "$scratch/grow-data/check-image-marker"
rc=0; out=$(growfs) || rc=$?
echo "$out" | sed 's/^/  /' >&2
online=yes
if [ "$rc" != 0 ]; then
    cap_sys_resource=$(( 0x$(awk '/^CapEff/ {print $2}' /proc/self/status) >> 24 & 1 ))
    case $out in
        *"grown to the end of the card"*"resize2fs"*"Permission denied"*)
            if [ "$cap_sys_resource" = 0 ]; then
                online=no
                echo "check-image: this machine's root lacks CAP_SYS_RESOURCE: the kernel refuses an online" \
                    "resize; resizing offline instead (the Pi's root has it: the device resizes online)" >&2
                umount "$scratch/grow-data"
                e2fsck -fy "$data" >/dev/null 2>&1 || true
                resize2fs "$data" >/dev/null 2>&1 || fail "offline resize2fs $data"
                mount "$data" "$scratch/grow-data"
            else
                fail "edge-gateway-growfs: $out"
            fi ;;
        *) fail "edge-gateway-growfs (exit $rc): $out" ;;
    esac
fi
rc=0; again=$(growfs) || rc=$?
case $again in
    *"already fills the card"*) [ "$rc" = 0 ] || fail "second run exit $rc: $again" ;;
    *) fail "second run of edge-gateway-growfs: $again" ;;
esac
[ "$(cat "$scratch/grow-data/check-image-marker")" = "check-image growth marker" ] || fail "data lost"
umount "$scratch/grow-data"
disk_sectors=$(( $(blockdev --getsize64 "$loop") / 512 ))
part_end=$(sfdisk -J "$loop" | python3 -c "
import json, sys
p = json.load(sys.stdin)['partitiontable']['partitions'][2]
print(p['start'] + p['size'])")
part_bytes=$(blockdev --getsize64 "$data")
after=$(fs_bytes "$data")
# growpart leaves at most a few sectors at the end; a file system ends on a whole block and may
# drop a last block group too small to hold its own metadata.
[ $((disk_sectors - part_end)) -lt 2048 ] || fail "EGW-DATA ends at sector $part_end of $disk_sectors"
[ $((part_bytes - after)) -lt $((128 << 20)) ] || fail "file system $after bytes in a $part_bytes-byte partition"
e2fsck -fn "$data" > "$scratch/e2fsck.log" 2>&1 || fail "e2fsck -fn after growing: $(tail -n 5 "$scratch/e2fsck.log")"
losetup -d "$loop"; loop=""
[ "$failures" = "$f0" ] && ok "EGW-DATA grown on a 6 GiB larger disk: file system $((before >> 20)) MiB ->" \
    "$((after >> 20)) MiB (partition $((part_bytes >> 20)) MiB, ends $((disk_sectors - part_end)) sectors" \
    "before the disk's end)$( [ $online = yes ] && echo ", online" || echo ", file system offline here")," \
    "second run a no-op, e2fsck -f clean, data kept"
[ "$failures" = 0 ] || { echo "check-image: $failures check(s) failed" >&2; exit 1; }
exit
}
