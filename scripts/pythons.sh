#!/usr/bin/env bash
# Finds one interpreter for each supported CPython (3.11 to 3.15) and prints "X.Y PATH" per
# line for those found, on stdout; each one not found is named on stderr, with why.
#
# Where it looks, in order, for version X.Y:
#   1. $FERROTYPES_PYTHON_X_Y (e.g. FERROTYPES_PYTHON_3_12=/opt/py312/bin/python3.12)
#   2. pyenv: the newest installed X.Y.* under `pyenv root`
#   3. pythonX.Y on PATH
#   4. the launchers scripts/sid-root.sh writes for the Debian unstable root
#      ($FERROTYPES_CACHE/bin/pythonX.Y, default /var/cache/ferrotypes/bin)
# A candidate counts only if it runs, reports X.Y, and has its own ctypes test suite
# (ctypes/test up to 3.11, test/test_ctypes from 3.12), which is the spec it is held to.
set -uo pipefail
versions=(${FERROTYPES_VERSIONS:-3.11 3.12 3.13 3.14 3.15})
cache=${FERROTYPES_CACHE:-/var/cache/ferrotypes}

check() {  # check X.Y PATH -> 0 if PATH is a usable X.Y with its ctypes test suite
    [[ -x $2 ]] || return 1
    "$2" - "$1" >/dev/null 2>&1 <<'PY'
import importlib.util, os, sys, sysconfig
if "%d.%d" % sys.version_info[:2] != sys.argv[1] or sys.implementation.name != "cpython":
    sys.exit(1)
stdlib = sysconfig.get_path("stdlib")
suite = "ctypes/test" if sys.version_info < (3, 12) else "test/test_ctypes"
sys.exit(0 if os.path.isfile(os.path.join(stdlib, suite, "__init__.py")) else 2)
PY
}

candidates() {  # candidates X.Y -> paths to try, one per line
    local v=$1 var="FERROTYPES_PYTHON_${1/./_}"
    [[ -n ${!var:-} ]] && echo "${!var}"
    if command -v pyenv >/dev/null 2>&1; then
        local root
        root=$(pyenv root 2>/dev/null)
        pyenv versions --bare 2>/dev/null | grep -E "^${v//./\\.}\.[0-9]+$" | sort -t. -k3,3nr \
            | while read -r full; do echo "$root/versions/$full/bin/python$v"; done
    fi
    type -ap "python$v" 2>/dev/null | grep -v '/shims/'
    echo "$cache/bin/python$v"
}

for v in "${versions[@]}"; do
    found=""
    tried=()
    while read -r path; do
        [[ -z $path ]] && continue
        if check "$v" "$path"; then
            found=$path
            break
        fi
        tried+=("$path")
    done < <(candidates "$v")
    if [[ -n $found ]]; then
        echo "$v $found"
    else
        echo "pythons.sh: CPython $v NOT FOUND (tried: ${tried[*]:-nothing}); for 3.14/3.15 run scripts/sid-root.sh" >&2
    fi
done
