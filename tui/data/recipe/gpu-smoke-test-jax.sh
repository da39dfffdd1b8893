#!/usr/bin/env bash
# The book's try_gpu() check: JAX in the d2l environment puts an array on the GPU.
env_dir="${D2L_ENV_DIR:-$HOME/d2l}"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
cd /tmp || exit 1  # not $HOME, where the folder ~/d2l sits beside the d2l package
"$env_dir/bin/python" - <<'PY'
from d2l import jax as d2l
import jax
from jax import numpy as jnp

assert d2l.num_gpus() > 0, "JAX sees no GPU"
x = jax.device_put(jnp.ones((2, 3)), d2l.try_gpu())
print(x.device())
print(x)
PY
