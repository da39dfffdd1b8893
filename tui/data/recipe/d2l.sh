#!/usr/bin/env bash
# The book's own package at the release the notebooks were written for (it pins numpy, pandas, matplotlib, jupyter).
env_dir="${D2L_ENV_DIR:-$HOME/d2l}"
uv="$HOME/.local/bin/uv"

"$uv" pip install --python "$env_dir/bin/python" "d2l==1.0.3"
cd /tmp || exit 1  # not $HOME, where the folder ~/d2l sits beside the d2l package
"$env_dir/bin/python" -c 'import d2l; print("d2l", d2l.__version__)'
