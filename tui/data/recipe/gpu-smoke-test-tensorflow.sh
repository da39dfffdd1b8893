#!/usr/bin/env bash
# The book's try_gpu() check: TensorFlow in the d2l environment puts a tensor on the GPU.
env_dir="${D2L_ENV_DIR:-$HOME/d2l}"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
if [ -s "$env_dir/d2l-cuda-libs" ]; then
    LD_LIBRARY_PATH="$(cat "$env_dir/d2l-cuda-libs")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    export LD_LIBRARY_PATH
fi
cd /tmp || exit 1  # not $HOME, where the folder ~/d2l sits beside the d2l package
"$env_dir/bin/python" - <<'PY'
from d2l import tensorflow as d2l
import tensorflow as tf

assert d2l.num_gpus() > 0, "TensorFlow sees no GPU (are the CUDA 11.8 libraries on LD_LIBRARY_PATH?)"
with d2l.try_gpu():
    x = tf.ones((2, 3))
print(x.device)
print(x)
PY
