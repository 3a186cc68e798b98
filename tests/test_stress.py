"""Hardening: threads hammering ferrotypes at once, and memory that stays flat over time.

Bounded in time and count so the suite stays fast; the point is exactness under
concurrency and the absence of leaks, not throughput (timings are never asserted).
"""
import random
import subprocess
import sys
import textwrap
import threading
import time

import ferrotypes as ft

libc = ft.CDLL(None)
libm = ft.CDLL("libm.so.6")


class Pair(ft.Structure):
    _fields_ = [("a", ft.c_int), ("b", ft.c_double)]


MIN_ROUNDS = 20


def _run_eight(worker, errors, counts):
    """Runs `worker(k)` in 8 threads at once; none may hang, fail or do nothing."""
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not any(t.is_alive() for t in threads), "a worker thread hung"
    assert errors == []
    assert all(c > 0 for c in counts)


def _typed(lib, name, restype, *argtypes):
    f = lib[name]          # a fresh function object per caller: no shared argtypes races
    f.restype = restype
    f.argtypes = argtypes
    return f


def test_eight_threads_calls_fields_arrays_exact():
    errors = []
    counts = [0] * 8
    deadline = time.monotonic() + 2.0

    def worker(k):
        hypot = _typed(libm, "hypot", ft.c_double, ft.c_double, ft.c_double)
        labs = _typed(libc, "labs", ft.c_long, ft.c_long)
        strlen = _typed(libc, "strlen", ft.c_size_t, ft.c_char_p)
        shared_abs = libc.abs            # the same cached object from every thread
        pair = Pair()
        arr = (ft.c_int * 64)()
        i = 0
        try:
            # At least MIN_ROUNDS rounds each, however late a thread starts on a saturated
            # machine (the deadline alone let a thread start after it and do nothing).
            while i < MIN_ROUNDS or time.monotonic() < deadline:
                i += 1
                assert hypot(3.0 * i, 4.0 * i) == 5.0 * i
                assert labs(-i * 1000 - k) == i * 1000 + k
                assert strlen(b"x" * (i % 50)) == i % 50
                assert shared_abs(-i) == i
                pair.a, pair.b = i, i / 2
                assert (pair.a, pair.b) == (i, i / 2)
                arr[i % 64] = i
                assert arr[i % 64] == i
                p = ft.pointer(ft.c_int(i))
                assert p.contents.value == i
            counts[k] = i
        except BaseException as exc:     # reported below with the thread number
            errors.append((k, repr(exc)))

    _run_eight(worker, errors, counts)


CMP = ft.CFUNCTYPE(ft.c_int, ft.POINTER(ft.c_int), ft.POINTER(ft.c_int))


def _three_way(x, y):
    return (x > y) - (x < y)


def test_eight_threads_qsort_with_python_comparators_exact():
    # Each thread sorts its own arrays through libc's qsort with a fresh Python
    # comparator per sort (and one comparator shared by all threads), while creating and
    # dropping callbacks that are never called. Every comparison must see the calling
    # thread's own array, and every sort must come out exact.
    errors = []
    counts = [0] * 8
    deadline = time.monotonic() + 2.0
    shared_calls = [0] * 8
    tls = threading.local()

    def shared_compare(a, b):
        shared_calls[tls.k] += 1
        return _three_way(a[0], b[0])

    shared = CMP(shared_compare)

    def worker(k):
        tls.k = k
        qsort = _typed(libc, "qsort", None, ft.c_void_p, ft.c_size_t, ft.c_size_t, CMP)
        rng = random.Random(k)
        i = 0
        try:
            # At least MIN_ROUNDS rounds each, however late a thread starts on a saturated
            # machine (the deadline alone let a thread start after it and do nothing).
            while i < MIN_ROUNDS or time.monotonic() < deadline:
                i += 1
                values = [rng.randrange(-10**6, 10**6) for _ in range(1 + i % 40)]
                arr = (ft.c_int * len(values))(*values)
                lo = ft.addressof(arr)
                hi = lo + ft.sizeof(arr)
                strays = []
                descending = (i + k) % 2 == 0

                def compare(a, b, sign=-1 if descending else 1):
                    for p in (a, b):
                        addr = ft.cast(p, ft.c_void_p).value
                        if not lo <= addr < hi:
                            strays.append(addr)
                    return sign * _three_way(a[0], b[0])

                if i % 5 == 0:
                    qsort(arr, len(arr), ft.sizeof(ft.c_int), shared)
                    assert list(arr) == sorted(values)
                else:
                    cb = CMP(compare)
                    qsort(arr, len(arr), ft.sizeof(ft.c_int), cb)
                    del cb                  # freed while other threads run theirs
                    assert list(arr) == sorted(values, reverse=descending)
                assert strays == []
                for _ in range(3):          # churn: made and dropped, never called
                    CMP(compare)
            counts[k] = i
        except BaseException as exc:        # reported below with the thread number
            errors.append((k, repr(exc)))

    _run_eight(worker, errors, counts)
    assert all(c > 0 for c, n in zip(shared_calls, counts) if n >= 10)


def _run_isolated(code):
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_memory_stays_flat_over_many_operations():
    # Warm up, then measure RSS and tracemalloc across a long run of the same work.
    out = _run_isolated("""
        import gc, resource, tracemalloc
        import ferrotypes as ft
        libc = ft.CDLL(None)
        strlen = libc.strlen
        strlen.argtypes = (ft.c_char_p,)
        strlen.restype = ft.c_size_t

        class S(ft.Structure):
            _fields_ = [("p", ft.c_char_p), ("n", ft.c_int), ("arr", ft.c_int * 4)]

        def work(n):
            for i in range(n):
                strlen(b"abc%d" % i)
                libc.abs(-i)
                a = (ft.c_int * 16)(*range(16))
                p = ft.cast(a, ft.POINTER(ft.c_int))
                assert p[15] == 15
                s = S(b"x%d" % i, i)
                s.arr[2] = i
                q = ft.pointer(s)
                assert q.contents.n == i
                buf = ft.create_string_buffer(b"y" * 64)
                ft.memmove(buf, b"z" * 8, 8)
                ft.string_at(buf, 8)
                ft.c_char_p(b"keep")._objects
            gc.collect()

        def rss_kb():
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * resource.getpagesize() // 1024

        work(20000)
        tracemalloc.start()
        base_rss = rss_kb()
        base_tm = tracemalloc.get_traced_memory()[0]
        work(100000)
        grown_rss = rss_kb() - base_rss
        grown_tm = tracemalloc.get_traced_memory()[0] - base_tm
        print(grown_rss, grown_tm)
    """)
    grown_rss_kb, grown_traced = map(int, out.split())
    assert grown_rss_kb < 4 * 1024, f"RSS grew by {grown_rss_kb} KiB"
    assert grown_traced < 256 * 1024, f"traced Python memory grew by {grown_traced} bytes"
