#!/bin/sh
# Build a flashable Raspberry Pi image (arm64, Pi 3/4/400/CM4; Pi 5 not by Debian's kernel yet)
# from Debian's own packages alone, with Pi Edge Gateway preinstalled and enabled.
#
#   image/build-debian-image.sh [--deb PATH] [--work DIR] [--out DIR] [--root-size MiB]
#                               [--data-size MiB] [--boot-size MiB] [--xz]
#
# Steps (each records the sha256 of its inputs in $WORK/.done-STEP; a re-run reuses a step whose
# inputs are unchanged and redoes, saying so, a step whose inputs changed and every step after it):
#   rootfs     debootstrap --foreign --arch=arm64 bookworm (main + non-free-firmware), second stage
#              under qemu-user: systemd, raspi-firmware, openssh-server, systemd-networkd/resolved/
#              timesyncd, wpasupplicant, cloud-guest-utils (growpart), python3. Inputs: suite,
#              mirror, package list. -> $WORK/base
#   kernel     a copy of base with raspi-firmware set up and Debian's arm64 kernel (its initrd is
#              built under qemu: the slowest step). Inputs: kernel package, raspi-firmware settings,
#              sources.list, the overlay's fstab. -> $WORK/kernel
#   (.deb)     --deb PATH, else the newest build/image/deb/edge-gateway_*_arm64.deb, else built in a
#              copy of the base root under qemu by image/build-deb-in-root.sh (wheels from PyPI).
#   install    a copy of the kernel root with the .deb installed. Input: the .deb's sha256. -> $WORK/rootfs
#   configure  image/debian/overlay copied in (fstab with noatime and a separate data partition,
#              journald in RAM, RuntimeWatchdogSec=15, SSH host keys made on first boot,
#              /boot/firmware/sysconf.txt, the data partition grown on boot), units enabled; no
#              credentials, no machine id and no host keys left. Inputs: the overlay tree, this script.
#   then, on every run: file systems made from directories (mkfs.vfat + mtools, mke2fs -d: no loop
#   devices, no mounts), put into one MBR disk image: RASPIFIRM (FAT32) | RASPIROOT | EGW-DATA (ext4).
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
        -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done

log() { printf '%s build-debian-image: %s\n' "$(date +%T)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root"
for tool in debootstrap systemd-nspawn mkfs.vfat mcopy mke2fs sfdisk e2fsck sha256sum; do
    command -v "$tool" >/dev/null || die "$tool missing (see the header of this script)"
done
if [ "$(uname -m)" != aarch64 ]; then
    [ -e /proc/sys/fs/binfmt_misc/status ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
    [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || update-binfmts --enable qemu-aarch64 \
        || die "no qemu-aarch64 binfmt (apt-get install qemu-user-static binfmt-support)"
fi

mkdir -p "$work" "$out"
# Three roots, each a copy of the one before, so a step can be redone without the ones before it:
#   base    debootstrap (step rootfs)
#   kernel  base + Debian's kernel and its initrd (step kernel)
#   rootfs  kernel + the .deb (step install) + the image settings (step configure): the image's root
base=$work/base
kroot=$work/kernel
rootfs=$work/rootfs
# shellcheck disable=SC2317
run_in() { r=$1; shift; systemd-nspawn --quiet --register=no --keep-unit -D "$r" \
    --setenv=DEBIAN_FRONTEND=noninteractive "$@"; }

# ── step markers with their inputs ──────────────────────────────────────────────────────────
# $work/.done-STEP holds the sha256 of the step's inputs, then the inputs themselves (key=value,
# files and trees as their sha256). A step is reused only when its recorded inputs are the ones
# of this run and its root is there; otherwise it is redone, and so is every step after it.
# Each step's inputs start with recipe=N: bump N when you change what the step does.
redo=""         # the first step redone in this run; every later step is redone too
sha() { sha256sum | cut -c1-64; }    # of stdin
tree_sha() {    # paths, types, modes, link targets and contents of a directory tree
    (cd "$1" && find . -printf '%y %m %p %l\n' | LC_ALL=C sort \
        && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum) | sha
}
inputs_sha() { printf '%s\n' "$1" | sha; }
# step_needed STEP INPUTS OUTPUT_DIR: true (and the marker removed) when the step must run.
step_needed() {
    marker=$work/.done-$1
    if [ ! -e "$marker" ]; then
        log "step $1: not done yet, running"
    elif [ ! -s "$marker" ]; then
        log "step $1: inputs changed, redoing (its marker records no inputs: made before input hashes)"
    elif [ "$(head -n 1 "$marker")" != "$(inputs_sha "$2")" ]; then
        tail -n +2 "$marker" > "$work/.inputs-old"
        changed=$(printf '%s\n' "$2" | grep -vxF -f "$work/.inputs-old" | cut -d= -f1 | paste -sd, -)
        rm -f "$work/.inputs-old"
        log "step $1: inputs changed, redoing (${changed:-?})"
    elif [ -n "$redo" ]; then
        log "step $1: inputs unchanged, but redoing: it starts from step $redo's result, which was redone"
    elif [ -n "$3" ] && [ ! -d "$3" ]; then
        log "step $1: inputs unchanged, but $3 is gone: redoing"
    else
        log "step $1: inputs unchanged, reusing"
        return 1
    fi
    rm -f "$marker"
    [ -n "$redo" ] || redo=$1
    return 0
}
step_done() { { inputs_sha "$2"; printf '%s\n' "$2"; } > "$work/.done-$1"; }

# Kernel, firmware, boot loader and the base system; everything else comes with the .deb.
packages=systemd,systemd-sysv,udev,kmod,dbus,systemd-timesyncd,systemd-resolved,iproute2,netbase
packages=$packages,openssh-server,ca-certificates,python3,libsystemd0,e2fsprogs,dosfstools
packages=$packages,raspi-firmware,firmware-brcm80211,wireless-regdb,wpasupplicant,iw
# growpart: edge-gateway-growfs.service grows the data partition to fill the card on boot.
packages=$packages,cloud-guest-utils
# The kernel comes in step kernel, once raspi-firmware is configured: installed here, its initrd
# would be built twice under qemu (kernel postinst, then the initramfs-tools trigger), 11 minutes
# each.
kernel=linux-image-arm64
packages=$packages,iputils-ping,less,nano,apt-utils,initramfs-tools,zstd
components=main,non-free-firmware
# raspi-firmware writes cmdline.txt's root= from ROOTPART; unset, it would take the build
# machine's root device (findmnt) in a chroot. CONSOLES="auto" looks at the build machine's /dev;
# a Pi 3/4 has its UART at ttyS1, the last console (HDMI) gets the boot log and the emergency shell.
rootpart=LABEL=RASPIROOT
consoles="ttyS1,115200 tty0"
sources="deb http://deb.debian.org/debian $suite main non-free-firmware
deb http://deb.debian.org/debian $suite-updates main non-free-firmware
deb http://deb.debian.org/debian-security $suite-security main non-free-firmware"
overlay=$here/debian/overlay

rootfs_inputs="recipe=1
arch=arm64
suite=$suite
mirror=$mirror
variant=minbase
components=$components
packages=$packages"
rootfs_sha=$(inputs_sha "$rootfs_inputs")
# The initrd's fsck hook reads /etc/fstab (the root's file system type), so the overlay's fstab
# is in place when the kernel is installed, and is one of the step's inputs.
kernel_inputs="recipe=1
after-rootfs=$rootfs_sha
kernel=$kernel
raspi-firmware=ROOTPART=$rootpart CONSOLES=$consoles
sources.list=$(printf '%s\n' "$sources" | sha)
fstab=$(sha < "$overlay/etc/fstab")"
kernel_sha=$(inputs_sha "$kernel_inputs")

# ── a work directory from before the input hashes ───────────────────────────────────────────
# It held one root, configured in place, with empty markers. Its root is kept as the result of
# steps rootfs and kernel when it holds what they would make now (the package list, the suite,
# the kernel, the raspi-firmware settings, sources.list and fstab), with the earlier edge-gateway
# purged from it; otherwise the work directory is started afresh.
if [ -d "$rootfs" ] && [ ! -e "$base" ] && [ ! -e "$kroot" ] && [ -e "$work/.done-rootfs" ] \
        && [ ! -s "$work/.done-rootfs" ]; then
    log "work directory from before input hashes: checking whether its root can be kept"
    why=""
    for p in $(echo "$packages,$kernel" | tr , ' '); do
        dpkg-query --admindir="$rootfs/var/lib/dpkg" -W -f='${db:Status-Status}\n' "$p" 2>/dev/null \
            | grep -qx installed || why="$why package $p not installed;"
    done
    grep -qx "VERSION_CODENAME=$suite" "$rootfs/etc/os-release" || why="$why not $suite;"
    grep -qx "ROOTPART=$rootpart" "$rootfs/etc/default/raspi-firmware" \
        && grep -qxF "CONSOLES=\"$consoles\"" "$rootfs/etc/default/raspi-firmware" \
        || why="$why other raspi-firmware settings;"
    [ "$(printf '%s\n' "$sources" | sha)" = "$(sha < "$rootfs/etc/apt/sources.list")" ] \
        || why="$why other sources.list;"
    cmp -s "$overlay/etc/fstab" "$rootfs/etc/fstab" || why="$why other fstab;"
    if [ -z "$why" ]; then
        log "its root holds this run's package list, $suite, $kernel and settings: kept as the result of steps rootfs and kernel (delete $work for a build from nothing)"
        if dpkg-query --admindir="$rootfs/var/lib/dpkg" -W -f='${db:Status-Status}\n' edge-gateway \
                2>/dev/null | grep -qx installed; then
            log "purging the earlier edge-gateway from it"
            run_in "$rootfs" --private-network apt-get purge -y edge-gateway > "$work/configure.log" 2>&1 \
                || { tail -n 30 "$work/configure.log" >&2; die "purging the earlier edge-gateway failed"; }
        fi
        mv "$rootfs" "$kroot"
        step_done rootfs "$rootfs_inputs"
        step_done kernel "$kernel_inputs"
        # Steps install and configure then see markers that record no inputs, and are redone.
        : > "$work/.done-install"
    else
        log "its root cannot be kept:$why starting afresh"
        rm -rf "$rootfs"
        rm -f "$work/.done-rootfs" "$work/.done-configure"
    fi
fi

# ── 1. root file system (step rootfs) ──────────────────────────────────────────────────────
# Its root is needed only to (re)make the kernel root: a kept kernel root does without it.
need_base=""
[ -d "$kroot" ] && [ "$(head -n 1 "$work/.done-kernel" 2>/dev/null)" = "$kernel_sha" ] || need_base=$base
if step_needed rootfs "$rootfs_inputs" "$need_base"; then
    rm -rf "$base"
    t0=$(date +%s)
    log "debootstrap first stage (arm64, $suite)"
    debootstrap --foreign --arch=arm64 --variant=minbase --components="$components" \
        --include="$packages" "$suite" "$base" "$mirror" > "$work/debootstrap.log" 2>&1 \
        || { tail -n 30 "$work/debootstrap.log" >&2; die "debootstrap first stage failed"; }
    t1=$(date +%s)
    log "first stage: $((t1 - t0)) s; second stage under qemu-user (takes minutes)"
    # raspi-firmware's kernel hook copies kernel, initrd and device trees here.
    mkdir -p "$base/boot/firmware"
    chroot "$base" /debootstrap/debootstrap --second-stage >> "$work/debootstrap.log" 2>&1 \
        || { tail -n 30 "$work/debootstrap.log" >&2; die "debootstrap second stage failed"; }
    log "second stage: $(( $(date +%s) - t1 )) s"
    step_done rootfs "$rootfs_inputs"
fi

# ── 2. the kernel (step kernel) ────────────────────────────────────────────────────────────
if step_needed kernel "$kernel_inputs" "$kroot"; then
    t0=$(date +%s)
    rm -rf "$kroot"
    cp -a "$base" "$kroot"
    log "installing $kernel (its initrd is built under qemu: the slowest step)"
    install -m 0644 "$overlay/etc/fstab" "$kroot/etc/fstab"
    sed -i -e "s|^#\\?ROOTPART=.*|ROOTPART=$rootpart|" \
        -e "s|^#\\?CONSOLES=.*|CONSOLES=\"$consoles\"|" "$kroot/etc/default/raspi-firmware"
    printf '%s\n' "$sources" > "$kroot/etc/apt/sources.list"
    # The root's resolv.conf points at systemd-resolved, which does not run here.
    # shellcheck disable=SC2016  # $KERNEL is expanded by the shell in the root
    run_in "$kroot" --resolv-conf=replace-host --setenv=KERNEL="$kernel" sh -c '
        set -e
        apt-get update -qq
        apt-get install -y --no-install-recommends "$KERNEL"
    ' > "$work/kernel.log" 2>&1 || { tail -n 30 "$work/kernel.log" >&2; die "installing $kernel failed"; }
    ls "$kroot"/boot/initrd.img-* >/dev/null || die "no initrd in /boot after installing $kernel"
    log "kernel: $(( $(date +%s) - t0 )) s"
    step_done kernel "$kernel_inputs"
fi

# ── 3. the arm64 .deb ──────────────────────────────────────────────────────────────────────
if [ -z "$deb" ]; then
    # shellcheck disable=SC2012  # our own file names; ls -t picks the newest
    deb=$(ls -1t "$out"/deb/edge-gateway_*_arm64.deb 2>/dev/null | head -n 1 || true)
    if [ -z "$deb" ]; then
        t0=$(date +%s)
        log "building the arm64 .deb in a copy of the root under qemu"
        rm -rf "$work/builder"
        if [ -d "$base" ]; then cp -a "$base" "$work/builder"; else cp -a "$kroot" "$work/builder"; fi
        deb=$("$here/build-deb-in-root.sh" "$work/builder" "$out/deb")
        rm -rf "$work/builder"
        log "arm64 .deb: $((  $(date +%s) - t0 )) s"
    fi
fi
[ -f "$deb" ] || die "no .deb at $deb"
case $deb in *_arm64.deb) ;; *) die "$deb is not an arm64 package" ;; esac
log "package: $deb"

install_inputs="recipe=1
after-kernel=$kernel_sha
deb=$(sha < "$deb")"
install_sha=$(inputs_sha "$install_inputs")
configure_inputs="recipe=1
after-install=$install_sha
overlay=$(tree_sha "$overlay")
script=$(sha < "$here/build-debian-image.sh")"

# ── 4. the .deb in a copy of the kernel root (step install) ────────────────────────────────
# shellcheck disable=SC2317
install_deb() {
    t0=$(date +%s)
    rm -rf "$rootfs"
    cp -a "$kroot" "$rootfs"
    log "installing $(basename "$deb")"
    cp "$deb" "$rootfs/root/"
    run_in "$rootfs" --private-network apt-get install -y --no-install-recommends \
        "/root/$(basename "$deb")" > "$work/configure.log" 2>&1 \
        || { tail -n 30 "$work/configure.log" >&2; die "installing the .deb failed"; }
    rm "$rootfs/root/$(basename "$deb")"
    log "install: $(( $(date +%s) - t0 )) s"
    step_done install "$install_inputs"
}
if step_needed install "$install_inputs" "$rootfs"; then
    install_deb
fi

# ── 5. the image settings (step configure) ─────────────────────────────────────────────────
if step_needed configure "$configure_inputs" "$rootfs"; then
    t0=$(date +%s)
    # Configuring changes the root in place: a root configured before starts again from step
    # install's result.
    if [ "$redo" = configure ]; then
        log "step configure: the root was configured in place before: redoing step install first"
        install_deb
    fi
    log "the image settings"
    cp -r --no-preserve=ownership "$overlay/." "$rootfs/"
    chmod 0755 "$rootfs/usr/local/sbin/"*
    echo edge-gateway > "$rootfs/etc/hostname"
    printf '127.0.0.1\tlocalhost\n127.0.1.1\tedge-gateway\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' \
        > "$rootfs/etc/hosts"
    run_in "$rootfs" --private-network sh -c '
        set -e
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
    # nspawn leaves /etc/resolv.conf alone with --private-network; the link above stays.
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
    grep -qx 'dtparam=i2c_arm=on' "$rootfs/boot/firmware/config.txt" \
        || die "config.txt lacks the overlay's etc/default/raspi-firmware-custom (I2C on)"
    grep -q "root=$rootpart" "$rootfs/boot/firmware/cmdline.txt" \
        || die "cmdline.txt does not boot $rootpart: $(cat "$rootfs/boot/firmware/cmdline.txt")"
    ls "$rootfs"/boot/firmware/initrd.img-* "$rootfs"/boot/firmware/vmlinuz-* \
        "$rootfs"/boot/firmware/bcm2711-rpi-4-b.dtb >/dev/null \
        || die "kernel, initrd or device trees missing from /boot/firmware"
    log "configure: $(( $(date +%s) - t0 )) s"
    step_done configure "$configure_inputs"
fi

# ── 6. file systems and the disk image (every run) ─────────────────────────────────────────────────────
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
if ! e2fsck -fn "$work/root.img" >/dev/null || ! e2fsck -fn "$work/data.img" >/dev/null; then
    die "e2fsck found problems in a new file system"
fi
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
