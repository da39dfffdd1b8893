#!/usr/bin/env bash
# Done when every package the later steps call is installed.
for package in ca-certificates curl unzip git python3-venv; do
    # shellcheck disable=SC2016  # ${db:Status-Status} is dpkg-query's field, not a shell expansion
    [ "$(dpkg-query -W -f='${db:Status-Status}' "$package" 2>/dev/null)" = installed ] || exit 1
done
