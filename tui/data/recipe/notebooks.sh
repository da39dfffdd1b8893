#!/usr/bin/env bash
# The book's notebooks (all four frameworks' folders) in ~/d2l-en; notebooks already there are never overwritten.
framework="${D2L_FRAMEWORK:-pytorch}"
dest="$HOME/d2l-en"
url="https://d2l.ai/d2l-en-1.0.3.zip"

if [ -d "$dest/$framework" ]; then
    echo "$dest/$framework is already there."
    exit 0
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
curl -fSL --retry 3 --retry-delay 5 -o "$tmp/d2l-en.zip" "$url"
unzip -q "$tmp/d2l-en.zip" -d "$tmp/unpacked"
# The zip's top level holds pytorch/ mxnet/ jax/ tensorflow/; allow for one enclosing folder too.
root="$tmp/unpacked"
if [ ! -d "$root/$framework" ]; then
    root="$(dirname "$(find "$tmp/unpacked" -mindepth 2 -maxdepth 2 -type d -name "$framework" -print -quit)")"
fi
if [ ! -d "$root/$framework" ]; then
    echo "$url has no $framework folder." >&2
    exit 1
fi
mkdir -p "$dest"
cp -R -n "$root/." "$dest/"
echo "The $framework notebooks are in $dest/$framework ($(find "$dest/$framework" -name '*.ipynb' | wc -l) notebooks)."
