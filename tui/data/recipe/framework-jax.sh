#!/usr/bin/env bash
# JAX and Flax as the book pins them; d2l's jax module also imports tensorflow and tensorflow_datasets for its data.
env_dir="${D2L_ENV_DIR:-$HOME/d2l}"
uv="$HOME/.local/bin/uv"
if [ "$(uname -m)" != x86_64 ]; then
    echo "warning: jax's CUDA 11 builds are for x86_64; on $(uname -m) JAX runs on the CPU only." >&2
fi

# tensorflow-cpu keeps TensorFlow off the GPU that JAX uses; tensorflow-datasets 4.8.3 needs protobuf 3.20.
"$uv" pip install --python "$env_dir/bin/python" \
    --find-links https://storage.googleapis.com/jax-releases/jax_cuda_releases.html \
    "jax[cuda11_pip]==0.4.13" "flax==0.7.0" "numpy==1.23.5" \
    "tensorflow-cpu==2.12.0" "tensorflow-datasets==4.8.3" "protobuf==3.20.3"
"$env_dir/bin/python" -c 'import jax, jaxlib; print("jax", jax.__version__, "jaxlib", jaxlib.__version__)'
