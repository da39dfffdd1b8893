#!/usr/bin/env bash
# The book's try_gpu() check: MXNet in the d2l environment puts an array on the GPU.
env_dir="${D2L_ENV_DIR:-$HOME/d2l}"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
cd /tmp || exit 1  # not $HOME, where the folder ~/d2l sits beside the d2l package
"$env_dir/bin/python" - <<'PY'
from d2l import mxnet as d2l
from mxnet import np, npx

npx.set_np()
assert d2l.num_gpus() > 0, "MXNet sees no GPU"
print(np.ones((2, 3), ctx=d2l.try_gpu()))
PY
