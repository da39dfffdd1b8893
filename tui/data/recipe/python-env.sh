#!/usr/bin/env bash
# The book's "d2l" environment: Python 3.11 in a uv venv (d2l's numpy==1.23.5 has no wheel for 3.12).
env_dir="${D2L_ENV_DIR:-$HOME/d2l}"
uv="$HOME/.local/bin/uv"

if [ ! -x "$uv" ]; then
    curl -LsSf https://astral.sh/uv/install.sh | env UV_INSTALL_DIR="$HOME/.local/bin" UV_NO_MODIFY_PATH=1 sh
fi
"$uv" --version

# An environment there with another Python (an earlier attempt, a 3.12 venv) is moved aside, not deleted.
if [ -e "$env_dir" ]; then
    if "$env_dir/bin/python" -c 'import sys; sys.exit(not (3, 9) <= sys.version_info[:2] <= (3, 11))' 2>/dev/null; then
        echo "$env_dir already has a usable Python."
    else
        aside="$env_dir.old-$(date +%Y%m%d-%H%M%S)"
        echo "$env_dir has no Python 3.9-3.11: moving it to $aside."
        mv "$env_dir" "$aside"
    fi
fi
if [ ! -e "$env_dir" ]; then
    # uv fetches a managed Python 3.11 where the system has another (3.10 on 22.04, 3.12 on 24.04).
    "$uv" venv --seed --python 3.11 "$env_dir"
fi
"$env_dir/bin/python" --version
echo "Enter the environment (the book's 'conda activate d2l') with: source $env_dir/bin/activate"
