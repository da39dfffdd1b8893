#!/usr/bin/env bash
# Done when the environment has the pinned MXNet GPU build.
env_dir="${D2L_ENV_DIR:-$HOME/d2l}"
cd /tmp || exit 1
"$env_dir/bin/python" - <<'PY'
import sys
from importlib.metadata import version

sys.exit(0 if version("mxnet-cu112") == "1.9.1" else 1)
PY
