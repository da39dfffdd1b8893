#!/usr/bin/env bash
# Done when the environment imports the pinned torch and torchvision (the +cu118 build when that is asked for).
env_dir="${D2L_ENV_DIR:-$HOME/d2l}"
cd /tmp || exit 1
"$env_dir/bin/python" - <<'PY'
import os
import sys

import torch
import torchvision

ok = torch.__version__.split("+")[0] == "2.0.0" and torchvision.__version__.split("+")[0] == "0.15.1"
if os.environ.get("D2L_TORCH_CU118") == "1":
    ok = ok and torch.version.cuda == "11.8"
sys.exit(0 if ok else 1)
PY
