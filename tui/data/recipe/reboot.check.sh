#!/usr/bin/env bash
# No reboot needed when the driver already works.
nvidia-smi -L
