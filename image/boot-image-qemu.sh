#!/bin/sh
# Boot a copy of a built image under qemu-system-aarch64 (machine "virt"; software emulation on an
# amd64 machine) with the image's own kernel and initrd, on a disk 4 GiB larger than the image,
# and check the first boot where only a real kernel shows it (check-image.sh's container cannot):
#
#  * edge-gateway-growfs.service grows EGW-DATA to the end of the disk and its ext4 file system
#    online, before the gateway starts; e2fsck -f finds the grown file system clean afterwards.
#  * sysconf.txt on the real FAT file system (vfat in the guest kernel): the Wi-Fi keys are
#    applied and the passphrase is gone from the whole FAT partition, read raw afterwards, not
#    only from the file.
#  * provisioning, edge-gateway.service active (running) through Type=notify, pub/sub as the
#    provisioned admin user (tests/boot/inside.py --quick), DHCP on the wired port (qemu's user
#    network), network-online reached, no failed units but wpa_supplicant@wlan0 (no radio here).
#
#   image/boot-image-qemu.sh IMAGE.img|IMAGE.img.xz [TIMEOUT_SECONDS]     (default 1800)
#
# Needs root, loop devices, mtools, qemu-system-arm (qemu-system-aarch64). The image is not
# changed. What this does not show: the Pi's boot firmware, its device trees, config.txt and
# cmdline.txt (qemu loads the kernel itself, with qemu's own device tree), the SD card, the Wi-Fi
# radio and the hardware watchdog; a Pi shows those.
set -eu
# The whole script is one block, read before it runs: editing the file during a run is safe.
{

img=$(realpath "$1")
timeout=${2:-1800}
repo=$(cd "$(dirname "$0")/.." && pwd)
scratch=$(mktemp -d /var/tmp/edge-gateway-qemu.XXXXXX)
mnt=$scratch/root
disk=$scratch/disk.img
# shellcheck disable=SC2317  # called by the trap
cleanup() {
    umount "$mnt/var/lib/edge-gateway" "$mnt" 2>/dev/null || true
    rm -rf "$scratch"
}
trap cleanup EXIT
failures=0
fail() { echo "boot-image-qemu: FAILED: $*" >&2; failures=$((failures + 1)); }
log() { echo "boot-image-qemu: $*" >&2; }
command -v qemu-system-aarch64 >/dev/null || { log "qemu-system-aarch64 missing (apt-get install qemu-system-arm)"; exit 2; }

case $img in
    *.xz) xz -dc "$img" | dd of="$disk" bs=1M conv=sparse status=none ;;
    *) cp --sparse=always "$img" "$disk" ;;
esac
image_bytes=$(stat -c %s "$disk")
truncate -s +4G "$disk"
part() {  # number field(start|size) in bytes, from the disk's current table
    sfdisk -J "$disk" | python3 -c "
import json, sys
p = json.load(sys.stdin)['partitiontable']['partitions'][$1 - 1]
print(p['$2'] * 512)"
}
fat=$(part 1 start)

# The kernel and initrd, from the FAT partition as the Pi's firmware would load them.
mcopy -n -i "$disk@@$fat" '::/vmlinuz-*' '::/initrd.img-*' "$scratch/"
set -- "$scratch"/vmlinuz-*
kernel=$1
set -- "$scratch"/initrd.img-*
initrd=$1

# sysconf.txt as a user edits it: Wi-Fi keys with a passphrase found nowhere else on the card.
secret="egw-qemu-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
mcopy -n -i "$disk@@$fat" ::/sysconf.txt "$scratch/sysconf.txt"
printf 'hostname=egw-qemu\nwifi_ssid=egw-qemu-net\nwifi_psk=%s\nwifi_country=DE\n' "$secret" \
    >> "$scratch/sysconf.txt"
mcopy -o -i "$disk@@$fat" "$scratch/sysconf.txt" ::/sysconf.txt

# A unit that records what the first boot did, runs the pub/sub check, and powers off.
mkdir -p "$mnt"
mount -o loop,offset="$(part 2 start)",sizelimit="$(part 2 size)" "$disk" "$mnt"
install -D -m 0644 "$repo/tests/boot/inside.py" "$mnt/usr/local/lib/boot-test/inside.py"
install -D -m 0755 /dev/stdin "$mnt/usr/local/lib/boot-test/qemu-state.sh" <<'STATE'
#!/bin/sh
mkdir -p /var/lib/boot-test
exec > /var/lib/boot-test/qemu-state.txt 2>&1
# Blocks until systemd-networkd-wait-online has finished (it already has: the gateway waits too).
systemctl start network-online.target
for unit in edge-gateway-growfs edge-gateway-sysconf edge-gateway-provision edge-gateway \
        systemd-networkd-wait-online; do
    systemctl show "$unit.service" -p ActiveState,SubState,Result,ExecMainStatus \
        -p ActiveEnterTimestampMonotonic,InactiveExitTimestampMonotonic | sed "s|^|$unit |"
done
journalctl -b -o cat -u edge-gateway-growfs.service | sed 's/^/growfs-journal /'
journalctl -b -o cat -u edge-gateway-sysconf.service | sed 's/^/sysconf-journal /'
echo "data-bytes $(df -B1 --output=size /var/lib/edge-gateway | tail -n 1)"
echo "data-source $(findmnt -nro SOURCE /var/lib/edge-gateway)"
echo "wpa-conf $(stat -c '%a %U' /etc/wpa_supplicant/wpa_supplicant-wlan0.conf)"
echo "hostname $(hostname)"
networkctl --no-legend list | sed 's/^/link /'
systemctl --failed --no-legend --plain | sed 's/^/failed /'
echo "gateway-after $(systemctl show edge-gateway.service -p After --value)"
STATE
cat > "$mnt/etc/systemd/system/qemu-check.service" <<'UNIT'
[Unit]
Description=Pi Edge Gateway first boot under qemu: record, check pub/sub, power off
After=multi-user.target edge-gateway.service
SuccessAction=poweroff-force
FailureAction=poweroff-force
[Service]
Type=oneshot
ExecStartPre=-/usr/local/lib/boot-test/qemu-state.sh
ExecStart=/opt/edge-gateway/venv/bin/python /usr/local/lib/boot-test/inside.py --quick
TimeoutStartSec=600
UNIT
ln -sf /etc/systemd/system/qemu-check.service "$mnt/etc/systemd/system/multi-user.target.wants/"
umount "$mnt"

# qemu's "virt" board: virtio disk and network (the image's initrd carries virtio_blk), PL011
# console. Two emulated cores and 1 GiB, like a Pi 3.
accel="-accel tcg -cpu cortex-a72"
[ "$(uname -m)" = aarch64 ] && [ -w /dev/kvm ] && accel="-accel kvm -cpu host"
log "booting under qemu-system-aarch64 (software emulation: minutes); console in $scratch/console.log"
start=$(date +%s)
# shellcheck disable=SC2086  # $accel is several words
timeout --kill-after=30 "$timeout" qemu-system-aarch64 -M virt $accel -smp 2 -m 1024 \
    -kernel "$kernel" -initrd "$initrd" \
    -append "root=LABEL=RASPIROOT rootwait console=ttyAMA0 systemd.show_status=false" \
    -drive file="$disk",format=raw,if=none,id=disk0 -device virtio-blk-pci,drive=disk0 \
    -netdev user,id=net0 -device virtio-net-pci,netdev=net0 \
    -nographic -no-reboot -serial file:"$scratch/console.log" -monitor none \
    || log "qemu exit status $?"
seconds=$(( $(date +%s) - start ))
log "qemu ran for $seconds s"
cp "$scratch/console.log" "$(dirname "$img")/qemu-console.log"

mount -o loop,ro,offset="$(part 2 start)",sizelimit="$(part 2 size)" "$disk" "$mnt"
state=$mnt/var/lib/boot-test/qemu-state.txt
results=$mnt/var/lib/boot-test/results.json
if [ ! -f "$state" ]; then
    tail -n 40 "$scratch/console.log" >&2
    log "no state recorded: the boot did not get as far as qemu-check.service"
    exit 1
fi
cp "$state" "$(dirname "$img")/qemu-state.txt"
cp "$state" "$scratch/qemu-state.txt"
prop() { sed -n "s|^$1 $2=||p" "$state"; }

# Growth.
[ "$(prop edge-gateway-growfs Result)" = success ] || fail "growfs: $(grep '^growfs-journal' "$state")"
grep -q '^growfs-journal .* grown from [0-9]* MiB to [0-9]* MiB' "$state" \
    || fail "growfs did not grow the file system: $(grep '^growfs-journal' "$state")"
grown=$(prop edge-gateway-growfs ActiveEnterTimestampMonotonic)
started=$(prop edge-gateway InactiveExitTimestampMonotonic)
if [ -z "$grown" ] || [ -z "$started" ] || [ "$grown" -gt "$started" ]; then
    fail "the gateway started (${started:-?} µs) before the growth finished (${grown:-?} µs)"
fi
disk_sectors=$(( $(stat -c %s "$disk") / 512 ))
part_end=$(( ($(part 3 start) + $(part 3 size)) / 512 ))
[ $((disk_sectors - part_end)) -lt 2048 ] || fail "EGW-DATA ends at sector $part_end of $disk_sectors"
dd if="$disk" of="$scratch/data.img" bs=1M iflag=skip_bytes,count_bytes skip="$(part 3 start)" \
    count="$(part 3 size)" conv=sparse status=none
fs_bytes=$(dumpe2fs -h "$scratch/data.img" 2>/dev/null \
    | awk -F: '/^Block count/ {n=$2} /^Block size/ {b=$2} END {printf "%.0f\n", n*b}')
# A file system ends on a whole block and may drop a last block group too small for its metadata.
[ $(( $(part 3 size) - fs_bytes )) -lt $((128 << 20)) ] \
    || fail "file system $fs_bytes bytes in a $(part 3 size)-byte partition"
e2fsck -fn "$scratch/data.img" > "$scratch/e2fsck.log" 2>&1 \
    || fail "e2fsck -fn on the grown EGW-DATA: $(tail -n 5 "$scratch/e2fsck.log")"

# sysconf.txt on vfat.
[ "$(prop edge-gateway-sysconf Result)" = success ] || fail "sysconf: $(grep '^sysconf-journal' "$state")"
grep -qx 'wpa-conf 600 root' "$state" || fail "wpa_supplicant-wlan0.conf: $(grep '^wpa-conf' "$state")"
grep -qx 'hostname egw-qemu' "$state" || fail "host name: $(grep '^hostname' "$state")"
dd if="$disk" bs=1M iflag=skip_bytes,count_bytes skip="$fat" count="$(part 1 size)" status=none \
    | grep -c -a -F "$secret" > "$scratch/secret-count" || true
[ "$(cat "$scratch/secret-count")" = 0 ] \
    || fail "the Wi-Fi passphrase is still on the FAT partition ($(cat "$scratch/secret-count") times)"

# The gateway and the network.
[ "$(prop edge-gateway-provision Result)" = success ] || fail "provisioning: $(prop edge-gateway-provision Result)"
[ "$(prop edge-gateway SubState)" = running ] || fail "edge-gateway.service: $(prop edge-gateway SubState)"
[ "$(prop systemd-networkd-wait-online Result)" = success ] || fail "networkd-wait-online did not succeed"
grep -q '^link .* ether .* routable ' "$state" || fail "no routable wired link: $(grep '^link' "$state")"
unexpected=$(grep '^failed ' "$state" | grep -v 'wpa_supplicant@wlan0' || true)
[ -z "$unexpected" ] || fail "failed units: $unexpected"
python3 - "$results" <<'PY' || fail "pub/sub check (tests/boot/inside.py --quick), see $results"
import json, sys
r = json.load(open(sys.argv[1]))
step = r.get("pubsub", {})
assert "error" not in r, r["error"]
assert step.get("received") == [[f"boot/{step.get('tag')}", step.get("sent")]], step
assert step.get("anonymous_connack") == "Not authorized", step
PY
umount "$mnt"
state=$scratch/qemu-state.txt

log "edge-gateway.service active $(( $(prop edge-gateway ActiveEnterTimestampMonotonic) / 1000000 )) s" \
    "after the kernel started; growth done at $(( grown / 1000000 )) s"
log "image $((image_bytes >> 20)) MiB, disk $(( $(stat -c %s "$disk") >> 20 )) MiB; EGW-DATA file system" \
    "$((fs_bytes >> 20)) MiB: $(sed -n 's/^growfs-journal edge-gateway-growfs: //p' "$state" | tail -n 1)"
if [ "$failures" = 0 ]; then
    log "OK: data partition and file system grown online before the gateway, e2fsck clean;" \
        "sysconf.txt applied on vfat, passphrase gone from the FAT partition; provisioned," \
        "edge-gateway active (running), pub/sub as admin, DHCP online ($seconds s under qemu)"
else
    log "$failures check(s) failed"
    exit 1
fi
exit
}
