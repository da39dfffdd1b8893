#!/usr/bin/env bash
# Done when the environment imports the pinned TensorFlow and the CUDA library folders are recorded.
env_dir="${D2L_ENV_DIR:-$HOME/d2l}"
[ -s "$env_dir/d2l-cuda-libs" ] || exit 1
cd /tmp || exit 1
"$env_dir/bin/python" - <<'PY'
import sys
from importlib.metadata import version

sys.exit(0 if (version("tensorflow"), version("tensorflow-probability")) == ("2.12.0", "0.20.0") else 1)
PY
