#!/usr/bin/env bash
# TensorFlow as the book pins it, with the CUDA 11.8 and cuDNN 8.6 libraries it loads (pip wheels, not a system CUDA).
env_dir="${D2L_ENV_DIR:-$HOME/d2l}"
uv="$HOME/.local/bin/uv"
py="$env_dir/bin/python"
if [ "$(uname -m)" != x86_64 ]; then
    echo "warning: the book's pinned GPU builds are for x86_64; on $(uname -m) TensorFlow runs on the CPU only." >&2
fi

"$uv" pip install --python "$py" "tensorflow==2.12.0" "tensorflow-probability==0.20.0" "numpy==1.23.5" \
    "nvidia-cudnn-cu11==8.6.0.163" "nvidia-cuda-runtime-cu11==11.8.89" "nvidia-cublas-cu11==11.11.3.6" \
    "nvidia-cufft-cu11==10.9.0.58" "nvidia-curand-cu11==10.3.0.86" "nvidia-cusolver-cu11==11.4.1.48" \
    "nvidia-cusparse-cu11==11.7.5.86" "nvidia-cuda-cupti-cu11==11.8.87"

# TensorFlow 2.12 finds these libraries only on the loader's path: record their folders for
# `activate`, the Jupyter kernel (the jupyter step) and the GPU test.
libs="$env_dir/d2l-cuda-libs"
"$py" - "$libs" <<'PY'
import glob
import os
import sys
import sysconfig

dirs = sorted(glob.glob(os.path.join(sysconfig.get_paths()["purelib"], "nvidia", "*", "lib")))
if not dirs:
    sys.exit("no nvidia/*/lib folders in the environment")
with open(sys.argv[1], "w") as f:
    f.write(":".join(dirs) + "\n")
PY
marker="# d2l-tui: the CUDA 11.8 libraries TensorFlow 2.12 loads"
if ! grep -qF "$marker" "$env_dir/bin/activate"; then
    # shellcheck disable=SC2016  # written for activate to expand when it runs
    printf '%s\nexport LD_LIBRARY_PATH="$(cat %q)${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"\n' "$marker" "$libs" \
        >>"$env_dir/bin/activate"
fi
"$py" -c 'import tensorflow as tf; print("tensorflow", tf.__version__)'
