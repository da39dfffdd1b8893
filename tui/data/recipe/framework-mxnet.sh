#!/usr/bin/env bash
# MXNet as the book pins it, although the project is retired: no fixes, no builds for newer CUDA or GPUs.
env_dir="${D2L_ENV_DIR:-$HOME/d2l}"
uv="$HOME/.local/bin/uv"
echo "warning: MXNet was retired to the Apache Attic in 2023; mxnet-cu112 1.9.1 is its last GPU build and may not run on L4, L40S or H100 GPUs." >&2
if [ "$(uname -m)" != x86_64 ]; then
    echo "warning: mxnet-cu112 is built for x86_64 only." >&2
fi

"$uv" pip install --python "$env_dir/bin/python" "mxnet-cu112==1.9.1" "numpy==1.23.5"
"$env_dir/bin/python" -c 'import mxnet; print("mxnet", mxnet.__version__)'
