#!/usr/bin/env bash
# The few system packages later steps call (curl, unzip, git); the 2020 chapter's libgfortran3 no longer exists.
packages=(ca-certificates curl unzip git python3-venv)

apt_get() {
    sudo env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -y "$@"
}

# At first boot cloud-init and unattended-upgrades hold apt's locks for a while: wait for them.
if command -v cloud-init >/dev/null 2>&1; then
    sudo cloud-init status --wait >/dev/null 2>&1 || true
fi
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
apt_get install --no-install-recommends "${packages[@]}"
