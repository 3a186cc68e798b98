#!/usr/bin/env bash
# The whole test suite: Rust unit tests of the core crate, then pytest (feature tests and
# CPython's own ctypes tests run against ferrotypes). Installs what is missing first.
# Exits non-zero if anything fails; both suites run even when the first one fails.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON=${PYTHON:-python}

# System packages: a C compiler (tests and benches compile small C libraries) and zlib
# headers. apt-get update only runs when something is missing.
missing=()
command -v gcc >/dev/null 2>&1 || missing+=(gcc)
if command -v dpkg-query >/dev/null 2>&1; then
    dpkg-query -W -f='${Status}' zlib1g-dev 2>/dev/null | grep -q 'install ok installed' \
        || missing+=(zlib1g-dev)
fi
if ((${#missing[@]})); then
    if command -v apt-get >/dev/null 2>&1; then
        sudo=""
        [[ $(id -u) -eq 0 ]] || sudo="sudo"
        $sudo apt-get update
        $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
    else
        echo "test.sh: missing ${missing[*]} and no apt-get; install them by hand" >&2
        exit 1
    fi
fi

# Python test dependencies (the `test` extra in pyproject.toml) and the build backend.
py_missing=$("$PYTHON" - <<'PY'
import importlib.util
wanted = {"pycparser": "pycparser>=2.21",  # runtime dependency (ferrotypes.cdef)
          "pytest": "pytest", "hypothesis": "hypothesis", "numpy": "numpy", "cffi": "cffi",
          "maturin": "maturin>=1.5,<2",
          # third-party ctypes users whose own suites tests/test_third_party.py runs
          "llvmlite": "llvmlite", "numba": "numba", "sdl2": "pysdl2",
          "sdl2dll": "pysdl2-dll"}
print(" ".join(spec for name, spec in wanted.items() if importlib.util.find_spec(name) is None))
PY
)
if [[ -n "$py_missing" ]]; then
    # shellcheck disable=SC2086  # a list of requirement specs
    "$PYTHON" -m pip install $py_missing
fi

bash scripts/build.sh

status=0
echo "== cargo test (core crate; the PyO3 cdylib is tested through pytest)"
cargo test --workspace --exclude ferrotypes-py || status=1
echo "== pytest"
"$PYTHON" -m pytest tests -q -ra || status=1

if ((status)); then
    echo "test.sh: FAILED" >&2
else
    echo "test.sh: all passed"
fi
exit "$status"
