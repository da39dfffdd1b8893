#!/usr/bin/env bash
# PyTorch as the book pins it; PyPI's build has no kernels for sm_89/sm_90 (L4, L40S, H100): those get +cu118.
env_dir="${D2L_ENV_DIR:-$HOME/d2l}"
uv="$HOME/.local/bin/uv"
if [ "$(uname -m)" != x86_64 ]; then
    echo "warning: the book's pinned GPU builds are for x86_64; on $(uname -m) PyTorch runs on the CPU only." >&2
fi

index=()
build=""
if [ "${D2L_TORCH_CU118:-0}" = 1 ]; then
    index=(--extra-index-url https://download.pytorch.org/whl/cu118 --index-strategy unsafe-best-match)
    build="+cu118"
fi
"$uv" pip install --python "$env_dir/bin/python" "${index[@]}" "torch==2.0.0$build" "torchvision==0.15.1$build" "numpy==1.23.5"
"$env_dir/bin/python" -c 'import torch; print("torch", torch.__version__, "built for CUDA", torch.version.cuda)'
