#!/bin/sh
# Build a flashable Raspberry Pi image (arm64, Pi 3/4/400/CM4; Pi 5 not by Debian's kernel yet)
# from Debian's own packages alone, with Pi Edge Gateway preinstalled and enabled.
#
#   image/build-debian-image.sh [--deb PATH] [--work DIR] [--out DIR] [--root-size MiB]
#                               [--data-size MiB] [--boot-size MiB] [--xz]
#
# Steps (each leaves a marker in the work directory, so a re-run resumes after the last one done):
#   1. debootstrap --foreign --arch=arm64 bookworm (main + non-free-firmware), second stage under
#      qemu-user (qemu-user-static + binfmt): systemd, raspi-firmware, openssh-server,
#      systemd-networkd/resolved/timesyncd, wpasupplicant, cloud-guest-utils (growpart), python3.
#   2. the arm64 edge-gateway .deb: --deb PATH, or built in a copy of that root under qemu with
#      image/build-deb-in-root.sh (dh-virtualenv; the wheels come from PyPI).
#   3. configure: the .deb installed with apt; Debian's arm64 kernel (its initrd is built under
#      qemu: the slowest step); image/debian/overlay copied in (fstab with noatime
#      and a separate data partition at /var/lib/edge-gateway, journald in RAM and size-capped,
#      RuntimeWatchdogSec=15 for the Pi's hardware watchdog, SSH host keys made on first boot,
#      /boot/firmware/sysconf.txt for the host name, root's SSH key and Wi-Fi, the data partition
#      grown to fill the card on boot); no credentials, no machine id and no host keys left in
#      the image.
#   4. file systems made from directories (mkfs.vfat + mtools, mke2fs -d: no loop devices, no
#      mounts), put into one MBR disk image: RASPIFIRM (FAT32) | RASPIROOT (ext4) | EGW-DATA (ext4).
#
# Needs root and: debootstrap qemu-user-static binfmt-support systemd-container dosfstools mtools
# e2fsprogs fdisk (apt). Debian's mirror must be reachable (and PyPI, to build the .deb).
set -eu
# The whole script is one block, read before it runs: editing the file during a build is safe.
{

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
deb=""
work=$repo/build/image/work
out=$repo/build/image
boot_mib=256
root_mib=0          # 0: what the root needs plus 40 %, at least 1536 MiB
data_mib=512
compress=no
mirror=${MIRROR:-http://deb.debian.org/debian}
suite=bookworm

while [ $# -gt 0 ]; do
    case $1 in
        --deb) deb=$(realpath "$2"); shift 2 ;;
        --work) work=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --boot-size) boot_mib=$2; shift 2 ;;
        --root-size) root_mib=$2; shift 2 ;;
        --data-size) data_mib=$2; shift 2 ;;
        --xz) compress=yes; shift ;;
        -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done

log() { printf '%s build-debian-image: %s\n' "$(date +%T)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
done_mark() { touch "$work/.done-$1"; }
is_done() { [ -e "$work/.done-$1" ]; }

[ "$(id -u)" = 0 ] || die "run as root"
for tool in debootstrap systemd-nspawn mkfs.vfat mcopy mke2fs sfdisk e2fsck; do
    command -v "$tool" >/dev/null || die "$tool missing (see the header of this script)"
done
if [ "$(uname -m)" != aarch64 ]; then
    [ -e /proc/sys/fs/binfmt_misc/status ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
    [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || update-binfmts --enable qemu-aarch64 \
        || die "no qemu-aarch64 binfmt (apt-get install qemu-user-static binfmt-support)"
fi

mkdir -p "$work" "$out"
rootfs=$work/rootfs
# shellcheck disable=SC2317
run_in() { r=$1; shift; systemd-nspawn --quiet --register=no --keep-unit -D "$r" \
    --setenv=DEBIAN_FRONTEND=noninteractive "$@"; }

# Kernel, firmware, boot loader and the base system; everything else comes with the .deb.
packages=systemd,systemd-sysv,udev,kmod,dbus,systemd-timesyncd,systemd-resolved,iproute2,netbase
packages=$packages,openssh-server,ca-certificates,python3,libsystemd0,e2fsprogs,dosfstools
packages=$packages,raspi-firmware,firmware-brcm80211,wireless-regdb,wpasupplicant,iw
# growpart: edge-gateway-growfs.service grows the data partition to fill the card on boot.
packages=$packages,cloud-guest-utils
# The kernel comes in step 3, once raspi-firmware is configured: installed here, its initrd would
# be built twice under qemu (kernel postinst, then the initramfs-tools trigger), 11 minutes each.
kernel=linux-image-arm64
packages=$packages,iputils-ping,less,nano,apt-utils,initramfs-tools,zstd

# ── 1. root file system ─────────────────────────────────────────────────────────────────────
if ! is_done rootfs; then
    rm -rf "$rootfs"
    t0=$(date +%s)
    log "debootstrap first stage (arm64, $suite)"
    debootstrap --foreign --arch=arm64 --variant=minbase --components=main,non-free-firmware \
        --include="$packages" "$suite" "$rootfs" "$mirror" > "$work/debootstrap.log" 2>&1 \
        || { tail -n 30 "$work/debootstrap.log" >&2; die "debootstrap first stage failed"; }
    t1=$(date +%s)
    log "first stage: $((t1 - t0)) s; second stage under qemu-user (takes minutes)"
    # raspi-firmware's kernel hook copies kernel, initrd and device trees here.
    mkdir -p "$rootfs/boot/firmware"
    chroot "$rootfs" /debootstrap/debootstrap --second-stage >> "$work/debootstrap.log" 2>&1 \
        || { tail -n 30 "$work/debootstrap.log" >&2; die "debootstrap second stage failed"; }
    log "second stage: $(( $(date +%s) - t1 )) s"
    done_mark rootfs
fi

# ── 2. the arm64 .deb ──────────────────────────────────────────────────────────────────────
if [ -z "$deb" ]; then
    deb=$(ls -1t "$out"/deb/edge-gateway_*_arm64.deb 2>/dev/null | head -n 1 || true)
    if [ -z "$deb" ]; then
        t0=$(date +%s)
        log "building the arm64 .deb in a copy of the root under qemu"
        rm -rf "$work/builder"
        cp -a "$rootfs" "$work/builder"
        deb=$("$here/build-deb-in-root.sh" "$work/builder" "$out/deb")
        rm -rf "$work/builder"
        log "arm64 .deb: $((  $(date +%s) - t0 )) s"
    fi
fi
[ -f "$deb" ] || die "no .deb at $deb"
case $deb in *_arm64.deb) ;; *) die "$deb is not an arm64 package" ;; esac

# ── 3. configure ───────────────────────────────────────────────────────────────────────────
if ! is_done configure; then
    log "installing $(basename "$deb") and the image settings"
    cp "$deb" "$rootfs/root/"
    run_in "$rootfs" --private-network apt-get install -y --no-install-recommends \
        "/root/$(basename "$deb")" > "$work/configure.log" 2>&1 \
        || { tail -n 30 "$work/configure.log" >&2; die "installing the .deb failed"; }
    rm "$rootfs/root/$(basename "$deb")"
    cp -r --no-preserve=ownership "$here/debian/overlay/." "$rootfs/"
    # raspi-firmware writes cmdline.txt's root= from this; unset, it would take the build
    # machine's root device (findmnt) in a chroot.
    # CONSOLES="auto" looks at the build machine's /dev; a Pi 3/4 has its UART at ttyS1, the
    # last console (HDMI) gets the boot log and the emergency shell.
    sed -i -e 's|^#\?ROOTPART=.*|ROOTPART=LABEL=RASPIROOT|' \
        -e 's|^#\?CONSOLES=.*|CONSOLES="ttyS1,115200 tty0"|' "$rootfs/etc/default/raspi-firmware"
    chmod 0755 "$rootfs/usr/local/sbin/"*
    echo edge-gateway > "$rootfs/etc/hostname"
    printf '127.0.0.1\tlocalhost\n127.0.1.1\tedge-gateway\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' \
        > "$rootfs/etc/hosts"
    cat > "$rootfs/etc/apt/sources.list" <<SOURCES
deb http://deb.debian.org/debian $suite main non-free-firmware
deb http://deb.debian.org/debian $suite-updates main non-free-firmware
deb http://deb.debian.org/debian-security $suite-security main non-free-firmware
SOURCES
    # The root's resolv.conf already points at systemd-resolved, which does not run here.
    run_in "$rootfs" --resolv-conf=replace-host --setenv=KERNEL="$kernel" sh -c '
        set -e
        apt-get update -qq
        apt-get install -y --no-install-recommends "$KERNEL"
        systemctl enable systemd-networkd systemd-resolved systemd-timesyncd ssh \
            edge-gateway-sysconf.service regenerate-ssh-host-keys.service \
            edge-gateway-growfs.service edge-gateway.service
        # Wi-Fi runs as wpa_supplicant@wlan0 (enabled by edge-gateway-sysconf once sysconf.txt
        # names a network); the D-Bus instance, for NetworkManager, has no user here.
        systemctl disable wpa_supplicant.service
        ln -sf ../run/systemd/resolve/stub-resolv.conf /etc/resolv.conf
        passwd --lock root
        # Rewrite config.txt/cmdline.txt and copy kernel, initrd and device trees to
        # /boot/firmware with the settings above (update-initramfs -u would do the same but
        # rebuild the initrd again first, about 11 minutes under qemu).
        DEB_MAINT_PARAMS=configure /etc/kernel/postinst.d/z50-raspi-firmware
    ' >> "$work/configure.log" 2>&1 || { tail -n 30 "$work/configure.log" >&2; die "configure failed"; }
    # Nothing that must differ per device stays in the image.
    rm -f "$rootfs"/etc/ssh/ssh_host_*
    : > "$rootfs/etc/machine-id"
    rm -f "$rootfs/var/lib/dbus/machine-id"
    for secret in etc/edge-gateway/passwd etc/edge-gateway/gateway-id \
            etc/edge-gateway/secrets/admin.password var/lib/edge-gateway/.provisioned; do
        [ ! -e "$rootfs/$secret" ] || die "$secret is in the image: provisioning ran at build time"
    done
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/boot/*.dpkg-bak \
        "$rootfs"/var/log/*.log "$rootfs/debootstrap"
    for tool in usr/bin/growpart usr/sbin/resize2fs usr/sbin/wpa_supplicant usr/bin/python3; do
        [ -x "$rootfs/$tool" ] || die "/$tool missing from the image (first-boot growth or Wi-Fi)"
    done
    [ -e "$rootfs/boot/firmware/config.txt" ] || die "raspi-firmware wrote no /boot/firmware/config.txt"
    grep -q 'root=LABEL=RASPIROOT' "$rootfs/boot/firmware/cmdline.txt" \
        || die "cmdline.txt does not boot LABEL=RASPIROOT: $(cat "$rootfs/boot/firmware/cmdline.txt")"
    ls "$rootfs"/boot/firmware/initrd.img-* "$rootfs"/boot/firmware/vmlinuz-* \
        "$rootfs"/boot/firmware/bcm2711-rpi-4-b.dtb >/dev/null \
        || die "kernel, initrd or device trees missing from /boot/firmware"
    done_mark configure
fi

# ── 4. file systems and the disk image ─────────────────────────────────────────────────────
log "making the file systems"
fs=$work/fs
rm -rf "$fs"
mkdir -p "$fs/boot" "$fs/data"
# The FAT partition holds what raspi-firmware put in /boot/firmware; the root keeps an empty
# mount point there and at /var/lib/edge-gateway.
cp -a "$rootfs/boot/firmware/." "$fs/boot/"
find "$rootfs/boot/firmware" -mindepth 1 -delete
cp -a "$rootfs/var/lib/edge-gateway/." "$fs/data/" 2>/dev/null || true
find "$rootfs/var/lib/edge-gateway" -mindepth 1 -delete
chown "$(stat -c %u:%g "$rootfs/var/lib/edge-gateway")" "$fs/data"
chmod 0750 "$fs/data"

if [ "$root_mib" = 0 ]; then
    used=$(du -sm --apparent-size "$rootfs" | cut -f1)
    root_mib=$(( used * 14 / 10 ))
    [ "$root_mib" -ge 1536 ] || root_mib=1536
fi
mkfs.vfat -F 32 -n RASPIFIRM -C "$work/boot.img" $((boot_mib * 1024)) >/dev/null
mcopy -s -i "$work/boot.img" "$fs/boot/"* ::/
mke2fs -q -F -t ext4 -L RASPIROOT -d "$rootfs" "$work/root.img" "${root_mib}M"
mke2fs -q -F -t ext4 -L EGW-DATA -d "$fs/data" "$work/data.img" "${data_mib}M"
e2fsck -fn "$work/root.img" >/dev/null && e2fsck -fn "$work/data.img" >/dev/null \
    || die "e2fsck found problems in a new file system"
# Put the moved files back, so a re-run of this step finds the root as it was.
cp -a "$fs/boot/." "$rootfs/boot/firmware/"
cp -a "$fs/data/." "$rootfs/var/lib/edge-gateway/" 2>/dev/null || true

img=$out/edge-gateway-debian-$suite-arm64.img
start=4   # MiB before the first partition
total=$((start + boot_mib + root_mib + data_mib + 1))
rm -f "$img"
truncate -s "${total}M" "$img"
sfdisk --quiet "$img" <<PARTS
label: dos
unit: sectors
$((start * 2048)),$((boot_mib * 2048)),c,*
$(((start + boot_mib) * 2048)),$((root_mib * 2048)),83
$(((start + boot_mib + root_mib) * 2048)),$((data_mib * 2048)),83
PARTS
dd if="$work/boot.img" of="$img" bs=1M seek=$start conv=notrunc,sparse status=none
dd if="$work/root.img" of="$img" bs=1M seek=$((start + boot_mib)) conv=notrunc,sparse status=none
dd if="$work/data.img" of="$img" bs=1M seek=$((start + boot_mib + root_mib)) conv=notrunc,sparse status=none
rm -f "$work/boot.img" "$work/root.img" "$work/data.img"
if [ "$compress" = yes ]; then
    log "compressing"
    xz -T0 -f -6 "$img"
    img=$img.xz
fi
(cd "$(dirname "$img")" && sha256sum "$(basename "$img")" > "$(basename "$img").sha256")
log "image: $img ($(du -h --apparent-size "$img" | cut -f1)); sha256 in $img.sha256"
echo "$img"
exit
}
