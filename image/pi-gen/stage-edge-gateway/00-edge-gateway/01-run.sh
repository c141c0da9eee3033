#!/bin/bash -e
# Pi Edge Gateway on Raspberry Pi OS: the arm64 .deb (files/edge-gateway_*_arm64.deb, built with
# image/build-deb-in-root.sh or on a Pi with image/build-deb.sh), installed and enabled, plus the
# image settings shared with the Debian-only image (image/debian/overlay).
#
# What Raspberry Pi OS already does and this stage keeps: SSH host keys are removed by pi-gen's
# export step and made on the first boot (raspberrypi-sys-mods' regenerate_ssh_host_keys), the
# root partition is mounted noatime and grown to fill the card on the first boot. What this stage
# cannot do: a separate data partition (pi-gen's export-image lays out two partitions only), so the
# gateway's state stays on the root partition here.

deb=$(ls -1 files/edge-gateway_*_arm64.deb | tail -n 1)
install -m 0644 "${deb}" "${ROOTFS_DIR}/tmp/edge-gateway.deb"
on_chroot <<CHROOT
apt-get install -y --no-install-recommends /tmp/edge-gateway.deb
rm -f /tmp/edge-gateway.deb
systemctl enable edge-gateway.service
CHROOT

install -D -m 0644 files/10-edge-gateway-sdcard.conf \
	"${ROOTFS_DIR}/etc/systemd/journald.conf.d/10-edge-gateway-sdcard.conf"
install -D -m 0644 files/10-edge-gateway-watchdog.conf \
	"${ROOTFS_DIR}/etc/systemd/system.conf.d/10-edge-gateway-watchdog.conf"

# I2C bus 1 on the header, as raspi-config's "I2C" option does it: the dtparam in config.txt (stage2
# ships it commented out) and the i2c-dev module. 1-Wire, SPI and the UART stay as Raspberry Pi OS
# has them (docs/operator-guide.md says why and how to turn them on).
config_txt="${ROOTFS_DIR}/boot/firmware/config.txt"
sed -i 's/^#\?dtparam=i2c_arm=.*/dtparam=i2c_arm=on/' "${config_txt}"
grep -qx 'dtparam=i2c_arm=on' "${config_txt}" || echo 'dtparam=i2c_arm=on' >> "${config_txt}"
install -D -m 0644 files/edge-gateway-modules.conf "${ROOTFS_DIR}/etc/modules-load.d/edge-gateway.conf"

# The first-boot provisioning must run on the device, never here.
for secret in etc/edge-gateway/passwd etc/edge-gateway/gateway-id var/lib/edge-gateway/.provisioned; do
	if [ -e "${ROOTFS_DIR}/${secret}" ]; then
		echo "edge-gateway: ${secret} is in the image: provisioning ran at build time" >&2
		exit 1
	fi
done
