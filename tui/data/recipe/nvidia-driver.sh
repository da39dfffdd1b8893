#!/usr/bin/env bash
# The NVIDIA driver only (pip wheels bring their own CUDA), from Canonical's prebuilt signed modules: nothing to compile.
branch=580
reboot_flag="${D2L_REBOOT_FLAG:-$HOME/.d2l-tui/reboot-needed}"

if nvidia-smi -L 2>/dev/null; then
    echo "The NVIDIA driver already works."
    exit 0
fi

# shellcheck source=/dev/null
. "${D2L_OS_RELEASE:-/etc/os-release}"  # (the tests point D2L_OS_RELEASE elsewhere)
if [ "${ID:-}" != ubuntu ] || { [ "${VERSION_ID:-}" != 22.04 ] && [ "${VERSION_ID:-}" != 24.04 ]; }; then
    echo "This step installs the driver on Ubuntu 22.04 or 24.04; this machine runs ${PRETTY_NAME:-an unknown system}." >&2
    exit 1
fi

kernel="$(uname -r)"      # e.g. 6.8.0-1024-aws
flavour="${kernel##*-}"   # aws on EC2's Ubuntu images
# Open kernel modules cover Turing and newer (T4, A10G, L4, L40S, A100, H100); V100 (p3) needs the proprietary ones.
if [ "${D2L_GPU_OPEN_MODULES:-1}" = 0 ]; then
    variant=""
else
    variant="-open"
fi
modules="linux-modules-nvidia-$branch-server$variant"

apt_get() {
    sudo env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -y "$@"
}
for attempt in 1 2 3 4 5 6 7 8 9 10; do
    if apt_get update; then
        break
    fi
    if [ "$attempt" -eq 10 ]; then
        echo "apt-get update kept failing." >&2
        exit 1
    fi
    echo "apt-get update failed (another apt may hold its lock); trying again in 15 s."
    sleep 15
done

# The flavour's meta package follows future kernels; the running kernel's own package (when the
# archive still has it) lets the driver load now, without a reboot.
packages=("$modules-$flavour" "nvidia-headless-no-dkms-$branch-server$variant" "nvidia-utils-$branch-server")
if apt-cache show "$modules-$kernel" >/dev/null 2>&1; then
    packages+=("$modules-$kernel")
else
    echo "The archive has no prebuilt modules for the running kernel $kernel: the newest $flavour kernel comes with them."
fi
apt_get install --no-install-recommends "${packages[@]}"

# CUDA needs nvidia-uvm as well; load it at every boot.
echo nvidia-uvm | sudo tee /etc/modules-load.d/d2l-tui-nvidia-uvm.conf >/dev/null

needs_reboot() {
    echo "$1 A reboot loads the driver."
    mkdir -p "$(dirname "$reboot_flag")"
    touch "$reboot_flag"
}
if ! modinfo -k "$kernel" nvidia >/dev/null 2>&1; then
    needs_reboot "The NVIDIA modules were installed for a newer kernel than the running $kernel."
elif ! sudo modprobe nvidia || ! sudo modprobe nvidia-uvm; then
    needs_reboot "The NVIDIA module did not load into the running kernel."
elif ! nvidia-smi; then
    needs_reboot "nvidia-smi does not work yet."
else
    echo "The NVIDIA driver works without a reboot."
fi
