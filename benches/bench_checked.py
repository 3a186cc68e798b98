"""Checked mode's cost per operation: default vs checked (and the /proc/self/maps probe).

    python benches/bench_checked.py [--number N] [--repeat R]

Prints nanoseconds per operation (best of R runs of N) for guarded reads (`string_at`,
pointer `.contents`, `from_address`, `c_char_p.value`), `memmove`, and a typed foreign call:
in the default mode, then in checked mode with each memory probe (`fault`: touch under the
fault guard, the default; `vm`: `process_vm_readv`; `maps`: `/proc/self/maps`), with the
difference to the default mode in parentheses.
"""

import argparse
import timeit

import ferrotypes as ct
from ferrotypes import _ctypes

ROWS = {
    "string_at(addr, 16)": "string_at(addr, 16)",
    "string_at(addr)  [NUL-terminated]": "string_at(addr)",
    "pointer.contents": "p.contents",
    "pointer[0]": "p[0]",
    "c_int.from_address": "c_int.from_address(addr)",
    "c_char_p.value": "s.value",
    "memmove(dst, src, 16)": "memmove(dst, addr, 16)",
    "typed call labs(-5)": "labs(-5)",
}


def setup_namespace():
    buf = ct.create_string_buffer(b"0123456789abcdef0123", 64)
    addr = ct.addressof(buf)
    libc = ct.CDLL(None)
    labs = libc.labs
    labs.argtypes = [ct.c_long]
    labs.restype = ct.c_long
    return {
        "string_at": ct.string_at, "memmove": ct.memmove, "c_int": ct.c_int, "buf": buf, "addr": addr,
        "p": ct.cast(addr, ct.POINTER(ct.c_int)), "s": ct.cast(addr, ct.c_char_p),
        "dst": ct.create_string_buffer(64), "labs": labs,
    }


def measure(ns, stmt, number, repeat):
    return min(timeit.repeat(stmt, globals=ns, number=number, repeat=repeat)) / number * 1e9


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--number", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    ns = setup_namespace()
    table = {}
    for name, stmt in ROWS.items():
        table[name] = [measure(ns, stmt, args.number, args.repeat)]
    probes = []
    with ct.checked():
        for probe in ("fault", "vm", "maps"):
            try:
                _ctypes._checked_probe(probe)
            except ValueError:
                continue  # not usable here
            probes.append(probe)
            for name, stmt in ROWS.items():
                table[name].append(measure(ns, stmt, args.number, args.repeat))
        _ctypes._checked_probe("auto")
    header = "".join(f" {'checked/' + p:>14}" for p in probes)
    print(f"{'operation':36} {'default':>9}{header}   (ns/op, best of {args.repeat} x {args.number})")
    for name, (default, *checked) in table.items():
        cells = "".join(f" {c:8.1f} ({c - default:+5.0f})" for c in checked)
        print(f"{name:36} {default:9.1f}{cells}")


if __name__ == "__main__":
    main()
