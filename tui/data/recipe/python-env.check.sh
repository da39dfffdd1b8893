#!/usr/bin/env bash
# Done when uv is installed and the environment's Python is 3.9-3.11 (the versions d2l 1.0.3 installs on).
env_dir="${D2L_ENV_DIR:-$HOME/d2l}"
[ -x "$HOME/.local/bin/uv" ] || exit 1
"$env_dir/bin/python" -c 'import sys; sys.exit(not (3, 9) <= sys.version_info[:2] <= (3, 11))'
