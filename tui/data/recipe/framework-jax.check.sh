#!/usr/bin/env bash
# Done when the environment has the pinned jax (its CUDA 11 jaxlib) and flax.
env_dir="${D2L_ENV_DIR:-$HOME/d2l}"
cd /tmp || exit 1
"$env_dir/bin/python" - <<'PY'
import platform
import sys
from importlib.metadata import version

ok = version("jax") == "0.4.13" and version("flax") == "0.7.0"
if platform.machine() == "x86_64":
    ok = ok and "cuda11" in version("jaxlib")
sys.exit(0 if ok else 1)
PY
