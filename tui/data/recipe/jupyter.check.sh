#!/usr/bin/env bash
# Done when the environment has jupyter and Notebook (and, for TensorFlow, a kernel that knows the CUDA libraries).
env_dir="${D2L_ENV_DIR:-$HOME/d2l}"
[ -x "$env_dir/bin/jupyter" ] && [ -x "$env_dir/bin/jupyter-notebook" ] || exit 1
if [ -s "$env_dir/d2l-cuda-libs" ]; then
    grep -q LD_LIBRARY_PATH "$env_dir/share/jupyter/kernels/python3/kernel.json" || exit 1
fi
