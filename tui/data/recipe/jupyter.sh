#!/usr/bin/env bash
# Jupyter Notebook in the environment (d2l usually brings it), and a kernel that finds TensorFlow's CUDA libraries.
env_dir="${D2L_ENV_DIR:-$HOME/d2l}"
uv="$HOME/.local/bin/uv"
py="$env_dir/bin/python"

"$uv" pip install --python "$py" "jupyter==1.0.0" notebook ipykernel
libs="$env_dir/d2l-cuda-libs"
if [ -s "$libs" ]; then
    # Kernels started by a server that was not started from an activated shell still get LD_LIBRARY_PATH.
    spec="$env_dir/share/jupyter/kernels/python3"
    if [ ! -f "$spec/kernel.json" ]; then
        "$py" -m ipykernel install --sys-prefix --name python3
    fi
    "$py" - "$spec/kernel.json" "$libs" <<'PY'
import json
import sys

path, libs = sys.argv[1], sys.argv[2]
with open(path) as f:
    spec = json.load(f)
with open(libs) as f:
    spec.setdefault("env", {})["LD_LIBRARY_PATH"] = f.read().strip()
with open(path, "w") as f:
    json.dump(spec, f, indent=1)
PY
fi
"$env_dir/bin/jupyter" --version
echo "Jupyter is $env_dir/bin/jupyter; the notebooks are in ~/d2l-en/${D2L_FRAMEWORK:-pytorch}."
