#!/usr/bin/env bash
# Done when the environment imports d2l 1.0.3.
env_dir="${D2L_ENV_DIR:-$HOME/d2l}"
cd /tmp || exit 1
"$env_dir/bin/python" -c 'import sys, d2l; sys.exit(d2l.__version__ != "1.0.3")'
