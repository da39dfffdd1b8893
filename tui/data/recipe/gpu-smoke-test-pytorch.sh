#!/usr/bin/env bash
# The book's try_gpu() check: PyTorch in the d2l environment puts a tensor on the GPU.
env_dir="${D2L_ENV_DIR:-$HOME/d2l}"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
cd /tmp || exit 1  # not $HOME, where the folder ~/d2l sits beside the d2l package
"$env_dir/bin/python" - <<'PY'
from d2l import torch as d2l
import torch

assert d2l.num_gpus() > 0, "PyTorch sees no GPU"
print(torch.ones(2, 3, device=d2l.try_gpu()))
PY
