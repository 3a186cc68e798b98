#!/usr/bin/env bash
# Makes (once) and refreshes a Debian unstable root holding CPython 3.14 and 3.15, and writes
# a host-side launcher for each: $FERROTYPES_CACHE/bin/python3.14 runs that interpreter (in a
# venv with the test dependencies) inside the root, in a private mount namespace where the
# caller's working tree, the Rust toolchain and the host's CA bundle are visible at the
# same paths as outside. Scripts then treat it like any other interpreter.
#
# The root lives outside the clone (default /var/cache/ferrotypes), so later runs reuse it.
# Needs root (debootstrap, chroot, unshare). Prints the launchers it wrote.
set -euo pipefail
cache=${FERROTYPES_CACHE:-/var/cache/ferrotypes}
root=$cache/sid-root
mirror=${FERROTYPES_DEBIAN_MIRROR:-http://deb.debian.org/debian}
versions=(3.14 3.15)
# apt inside the root: unstable's Release file may be past its validity date on the mirror.
apt_opts=(-o Acquire::Check-Valid-Until=false -o APT::Install-Recommends=false -y -q)
packages=(gcc make libc6-dev zlib1g-dev ca-certificates)
for v in "${versions[@]}"; do
    packages+=("python$v" "python$v-dev" "python$v-venv" "libpython$v-testsuite")
done
test_deps=(pytest hypothesis numpy cffi 'maturin>=1.5,<2' 'pycparser>=2.21')

if [[ $(id -u) -ne 0 ]]; then
    echo "sid-root.sh: needs root (debootstrap, chroot, unshare)" >&2
    exit 1
fi
for tool in debootstrap unshare chroot; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        apt-get update -q >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap util-linux coreutils >/dev/null
        break
    fi
done

host_ca=${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}
in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive "$@"; }
sync_host_files() {
    # The host's resolver and CA bundle (a registry proxy may re-sign TLS) serve the root too.
    cp /etc/resolv.conf "$root/etc/resolv.conf"
    if [[ -f $host_ca ]]; then
        mkdir -p "$root/etc/ssl/certs"
        cp "$host_ca" "$root/etc/ssl/certs/ca-certificates.crt"
    fi
}

if [[ ! -x $root/usr/bin/python3.15 || ! -f $root/.ferrotypes-ready ]]; then
    echo "sid-root.sh: making $root (Debian unstable: ${versions[*]})"
    rm -rf "$root.tmp"
    mkdir -p "$cache"
    debootstrap --variant=minbase --include="$(IFS=,; echo "${packages[*]}")" sid "$root.tmp" "$mirror" \
        > "$cache/debootstrap.log" 2>&1 || { tail -20 "$cache/debootstrap.log" >&2; exit 1; }
    rm -rf "$root"
    mv "$root.tmp" "$root"
    sync_host_files
    in_root apt-get "${apt_opts[@]}" update
    in_root apt-get "${apt_opts[@]}" install "${packages[@]}"
    touch "$root/.ferrotypes-ready"
fi
sync_host_files

mkdir -p "$cache/bin"
for v in "${versions[@]}"; do
    venv=/opt/ferrotypes/venv-$v
    if [[ ! -x $root$venv/bin/python ]]; then
        in_root "python$v" -m venv "$venv"
    fi
    missing=$(in_root "$venv/bin/python" - "${test_deps[@]}" <<'PY'
import importlib.util, re, sys
names = {"pycparser": "pycparser"}
print(" ".join(spec for spec in sys.argv[1:]
               if importlib.util.find_spec(re.split(r"[<>=]", spec)[0]) is None))
PY
    )
    if [[ -n $missing ]]; then
        # shellcheck disable=SC2086  # a list of requirement specs
        in_root env PIP_CERT=/etc/ssl/certs/ca-certificates.crt PIP_DISABLE_PIP_VERSION_CHECK=1 \
            "$venv/bin/python" -m pip install -q $missing
    fi
    launcher=$cache/bin/python$v
    cat > "$launcher.tmp" <<LAUNCHER
#!/usr/bin/env bash
# CPython $v from Debian unstable, run inside $root (written by scripts/sid-root.sh).
set -euo pipefail
root=$root
if [[ -z \${FERROTYPES_ROOT_NS:-} ]]; then
    export FERROTYPES_ROOT_NS=1
    exec unshare --mount --propagation private "\$0" "\$@"
fi
unset FERROTYPES_ROOT_NS
top=\$(git -C "\$PWD" rev-parse --show-toplevel 2>/dev/null || echo "\$PWD")
cargo_home=\${CARGO_HOME:-\$HOME/.cargo}
rustup_home=\${RUSTUP_HOME:-\$HOME/.rustup}
# The root's own /tmp first: a work tree under the host's /tmp is bound on top of it.
mount -t tmpfs tmpfs "\$root/tmp"
for dir in "\$top" "\$PWD" "\$cargo_home" "\$rustup_home" \${FERROTYPES_ROOT_BINDS:-}; do
    [[ -d \$dir && \$dir != / ]] || continue
    mountpoint -q "\$root\$dir" 2>/dev/null && continue
    mkdir -p "\$root\$dir"
    mount --bind "\$dir" "\$root\$dir"
done
mount -t proc proc "\$root/proc"
mount --rbind /dev "\$root/dev"
exec chroot "\$root" /usr/bin/env -C "\$PWD" \\
    PATH="$venv/bin:\$cargo_home/bin:/usr/local/bin:/usr/bin:/bin" \\
    CARGO_HOME="\$cargo_home" RUSTUP_HOME="\$rustup_home" \\
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt VIRTUAL_ENV=$venv \\
    $venv/bin/python "\$@"
LAUNCHER
    chmod +x "$launcher.tmp"
    mv "$launcher.tmp" "$launcher"
    echo "$launcher"
done
