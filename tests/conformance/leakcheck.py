#!/usr/bin/env python3
"""Run CPython's ``ctypes.test`` modules many times in ONE process and measure growth.

    python tests/conformance/leakcheck.py --mode {stock,full} [--warmup 5] [--rounds 10]
                                          [--types] [--per-module] [--snapshot N] [MODULE ...]

The mode is set up exactly as ``runner.py`` does (``full``: ``ferrotypes.install()`` with
the stdlib test directory grafted in as ``ctypes.test``; ``stock``: the stdlib). A round
runs every module's suite once (fresh TestCase instances, output discarded), then
``gc.collect()``. ``tracemalloc`` runs from the start; after ``--warmup`` rounds,
``--rounds`` rounds are measured: traced Python memory, the C heap in use (glibc
``mallinfo2``, where Rust and libffi allocations live) and RSS, read after glibc's
``malloc_trim`` so that free heap memory the allocator kept does not count
(``LEAKCHECK_TRIM=0`` reads it untrimmed). The stdlib tests keep some
memory for good by themselves (``_pointer_type_cache`` and the ``CFUNCTYPE`` cache keep
types that tests create), so the numbers only mean something next to the same run on
stock ctypes: ``tests/test_leaks.py`` compares them.

stdout gets one JSON line::

    {"mode", "warmup", "rounds", "failures": [...],
     "rss_growth_kb_per_round", "traced_growth_per_round",   # bytes, whole rounds
     "heap_growth_per_round",
     "modules": {name: traced growth per round},             # with --per-module
     "heap_modules": {name: C heap growth per round},        # with --per-module
     "types": {type name: count growth per round}}           # with --types

Finding a leak: ``--per-module`` collects after each module to attribute growth;
``--types`` diffs ``gc.get_objects()`` counts by type name; ``--snapshot N`` prints the N
largest tracemalloc growths with their tracebacks to stderr; ``--smaps`` prints, to
stderr, the resident growth per memory mapping (``/proc/self/smaps``: the heap, anonymous
mappings, each shared object), for RSS that neither tracemalloc nor the C heap explains.
Anything the tests print goes to stderr.
"""

from __future__ import annotations

import argparse
import collections
import gc
import importlib.util
import io
import json
import os
import sys
import tracemalloc

HERE = os.path.dirname(os.path.abspath(__file__))


def _load_runner():
    spec = importlib.util.spec_from_file_location(
        "ferrotypes_conformance_runner", os.path.join(HERE, "runner.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def rss_kb() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def smaps_rss() -> dict[str, int]:
    """Resident KiB per mapping of this process, keyed by address range and name."""
    resident: dict[str, int] = {}
    key = None
    with open("/proc/self/smaps") as smaps:
        for line in smaps:
            head = line.split(None, 5)
            if "-" in head[0] and len(head) >= 5 and not head[0].endswith(":"):
                key = f"{head[0]} {head[5].strip() if len(head) > 5 else '[anon]'}"
            elif head[0] == "Rss:" and key is not None:
                resident[key] = int(head[1])
    return resident


def print_smaps_growth(before: dict[str, int], after: dict[str, int], rounds: int) -> None:
    """Mappings whose resident size changed, biggest growth first, to stderr."""
    changes = []
    for key in set(before) | set(after):
        grown = after.get(key, 0) - before.get(key, 0)
        if grown:
            state = "new" if key not in before else "gone" if key not in after else ""
            changes.append((grown, key, state))
    changes.sort(reverse=True)
    by_name: dict[str, int] = collections.Counter()
    for grown, key, _ in changes:
        by_name[key.split(" ", 1)[1]] += grown
    print(f"--- resident growth per mapping (KiB, {rounds} rounds)", file=sys.stderr)
    for grown, key, state in changes[:40]:
        print(f"{grown:+8d} {state:4} {key}", file=sys.stderr)
    print("--- by name", file=sys.stderr)
    for name, grown in sorted(by_name.items(), key=lambda item: -item[1]):
        print(f"{grown:+8d} {name}", file=sys.stderr)


def trim_heap():
    """A function giving free C-heap memory back to the system (glibc ``malloc_trim``), so
    that RSS counts what live blocks hold, not where the allocator's free space happens to
    sit; a no-op without glibc."""
    import ctypes

    try:
        malloc_trim = ctypes.CDLL(None).malloc_trim
    except AttributeError:
        return lambda: None
    malloc_trim.argtypes = (ctypes.c_size_t,)
    malloc_trim.restype = ctypes.c_int
    return lambda: malloc_trim(0)


def malloc_in_use():
    """A function returning the bytes in use on the C heap (glibc ``mallinfo2``: arena
    chunks plus mmapped blocks): Rust and libffi allocations show up there, not in
    tracemalloc. Called through whatever ``ctypes`` the mode provides."""
    import ctypes

    class MallInfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
            "uordblks", "fordblks", "keepcost")]

    try:
        mallinfo2 = ctypes.CDLL(None).mallinfo2
    except AttributeError:          # glibc < 2.33, or not glibc
        return lambda: 0
    mallinfo2.restype = MallInfo2
    mallinfo2.argtypes = ()

    def in_use() -> int:
        info = mallinfo2()
        return info.uordblks + info.hblkhd

    return in_use


def type_counts() -> collections.Counter:
    gc.collect()
    return collections.Counter(type(o).__qualname__ for o in gc.get_objects())


def main(argv: list[str] | None = None) -> int:
    runner = _load_runner()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=("stock", "full"), default="full")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--types", action="store_true", help="also diff gc object counts by type")
    parser.add_argument("--per-module", action="store_true",
                        help="collect after each module and report its growth (slower)")
    parser.add_argument("--snapshot", type=int, default=0, metavar="N",
                        help="print the N biggest tracemalloc growths (by traceback) to stderr")
    parser.add_argument("--smaps", action="store_true",
                        help="print the resident growth per memory mapping to stderr")
    parser.add_argument("modules", nargs="*", help="default: every module")
    args = parser.parse_args(argv)
    modules = args.modules or runner.discover_modules()

    # As in runner.py: the JSON goes to the real stdout, everything else to stderr.
    json_out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    if args.mode == "full":
        runner.setup_full()

    import unittest

    tests = {}
    for name in modules:
        try:
            module = importlib.import_module(runner.module_name(name.removesuffix('.py')))
        except unittest.SkipTest:
            continue  # a module that skips itself on import (3.14's Windows-only COM tests)
        tests[name] = module
    modules = list(tests)
    if args.mode == "full":
        violations = runner.check_isolation("full", {"ferrotypes_package": os.path.dirname(
            sys.modules["ferrotypes"].__file__)})
        if violations:
            print(violations, file=sys.stderr)
            return 2

    failures: set[str] = set()
    heap = malloc_in_use()

    def run_once(name: str) -> None:
        suite = runner.load_suite(unittest, name, tests[name])
        result = unittest.TextTestRunner(stream=io.StringIO(), verbosity=0).run(suite)
        for test, _ in result.failures + result.errors:
            failures.add(test.id())

    # Traced from the start: a bounded cache filled during the warm-up (CPython's type
    # attribute cache holds a name string per slot) then frees traced blocks as it
    # replaces them, instead of showing up as growth.
    tracemalloc.start(25 if args.snapshot else 1)
    for _ in range(args.warmup):
        for name in modules:
            run_once(name)
        gc.collect()

    counts_before = type_counts() if args.types else None
    per_module = dict.fromkeys(modules, 0)
    heap_per_module = dict.fromkeys(modules, 0)
    gc.collect()
    first = tracemalloc.take_snapshot() if args.snapshot else None
    trim = trim_heap() if os.environ.get("LEAKCHECK_TRIM", "1") == "1" else (lambda: None)
    trim()
    smaps_start = smaps_rss() if args.smaps else None
    rss_start = rss_kb()
    heap_start = heap()
    traced_start = tracemalloc.get_traced_memory()[0]
    for _ in range(args.rounds):
        for name in modules:
            before, heap_before = tracemalloc.get_traced_memory()[0], heap()
            run_once(name)
            if args.per_module:
                gc.collect()
                per_module[name] += tracemalloc.get_traced_memory()[0] - before
                heap_per_module[name] += heap() - heap_before
        gc.collect()
    traced_end = tracemalloc.get_traced_memory()[0]
    heap_end = heap()
    if first is not None:
        for stat in tracemalloc.take_snapshot().compare_to(first, "traceback")[:args.snapshot]:
            print(f"--- {stat.size_diff:+d} B in {stat.count_diff:+d} blocks", file=sys.stderr)
            for line in stat.traceback.format(limit=25):
                print(line, file=sys.stderr)
    tracemalloc.stop()
    trim()
    rss_end = rss_kb()
    if smaps_start is not None:
        print_smaps_growth(smaps_start, smaps_rss(), args.rounds)

    report = {
        "mode": args.mode,
        "warmup": args.warmup,
        "rounds": args.rounds,
        "failures": sorted(failures),
        "rss_growth_kb_per_round": (rss_end - rss_start) / args.rounds,
        "traced_growth_per_round": (traced_end - traced_start) / args.rounds,
        "heap_growth_per_round": (heap_end - heap_start) / args.rounds,
    }
    if args.per_module:
        report["modules"] = {name: grown / args.rounds for name, grown in per_module.items()}
        report["heap_modules"] = {name: grown / args.rounds for name, grown in heap_per_module.items()}
    if counts_before is not None:
        after = type_counts()
        report["types"] = {
            name: (after[name] - counts_before[name]) / args.rounds
            for name in sorted(set(after) | set(counts_before))
            if after[name] != counts_before[name]
        }
    json_out.write(json.dumps(report, sort_keys=True) + "\n")
    json_out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
