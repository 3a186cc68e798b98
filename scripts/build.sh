#!/usr/bin/env bash
# Build ferrotypes and install it into the current Python (the one `python` runs, or
# $PYTHON). Idempotent: when nothing that goes into the build has changed since the last
# install into this Python, and that install is still there, it returns at once.
# FERROTYPES_FORCE_BUILD=1 rebuilds anyway.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON=${PYTHON:-python}

if ! "$PYTHON" -m pip --version >/dev/null 2>&1; then
    "$PYTHON" -m ensurepip --upgrade
fi
# --no-build-isolation builds with what is installed, so the backend must be there.
if ! "$PYTHON" -c 'import maturin' >/dev/null 2>&1; then
    "$PYTHON" -m pip install 'maturin>=1.5,<2'
fi
if ! command -v cargo >/dev/null 2>&1; then
    echo "build.sh: cargo is not on PATH (install Rust stable: https://rustup.rs)" >&2
    exit 1
fi

# Everything the wheel is built from, plus the interpreter it is installed into.
# One target directory per interpreter keeps each one's build warm (scripts/test.sh sets it).
target_dir=${CARGO_TARGET_DIR:-target}
stamp_file=$target_dir/.ferrotypes-install-stamp
inputs=()
for path in Cargo.toml Cargo.lock pyproject.toml README.md crates python; do
    [[ -e $path ]] && inputs+=("$path")
done
stamp=$(
    {
        "$PYTHON" -c 'import sys; print(sys.executable, sys.version)'
        find "${inputs[@]}" -type f ! -path '*/__pycache__/*' ! -name '*.pyc' ! -name '*.so' -print0 \
            | LC_ALL=C sort -z | xargs -0 sha256sum
    } | sha256sum | cut -d' ' -f1
)

# The installed package, found without importing it, from outside the source tree.
installed_extension() {
    (cd / && "$PYTHON" - <<'PY'
import glob, importlib.util, os, sys
spec = importlib.util.find_spec("ferrotypes")
for location in (spec.submodule_search_locations or []) if spec else []:
    found = glob.glob(os.path.join(location, "_ctypes*.so"))
    if found:
        print(found[0])
        sys.exit(0)
sys.exit(1)
PY
    )
}

if [[ "${FERROTYPES_FORCE_BUILD:-0}" != 1 && -f "$stamp_file" && "$(cat "$stamp_file")" == "$stamp" ]] \
        && so=$(installed_extension); then
    echo "build.sh: ferrotypes is up to date ($so)"
    exit 0
fi

rm -f "$stamp_file"
"$PYTHON" -m pip install --no-build-isolation -v .
so=$(installed_extension) || { echo "build.sh: installed, but ferrotypes/_ctypes*.so is not importable" >&2; exit 1; }
mkdir -p "$target_dir"
echo "$stamp" > "$stamp_file"
echo "build.sh: installed $so"
