"""Writes the seed corpus of the cdef harness (fuzz/corpus/cdef/) from real headers: each
header is preprocessed (``ferrotypes._cdef.preprocess``, the system ``cc -E``), cut into
runs of whole top-level declarations of about 1 KB, and every run that ``ferrotypes.cdef``
accepts on its own becomes one file, plus a few hand-written declarations for what system
headers lack (bit fields, ``#pragma pack``, enum arithmetic).

    python fuzz/python/make_cdef_seeds.py [OUT_DIR]
"""

import hashlib
import os
import re
import sys

import ferrotypes
from ferrotypes import _cdef

HEADERS = ["stdio.h", "stdlib.h", "string.h", "time.h", "sys/stat.h", "math.h", "zlib.h",
           "signal.h", "sys/socket.h", "netinet/in.h", "dirent.h", "pthread.h", "wchar.h",
           "sys/time.h", "termios.h", "locale.h"]

HAND_WRITTEN = [
    "struct flags { unsigned a : 1; unsigned b : 3; int c : 5; unsigned long long d : 40; };\n",
    "#pragma pack(push, 1)\nstruct packed { char c; int i; short s : 9; };\n#pragma pack(pop)\n",
    "enum e { A = 1 << 3, B = A | 4, C = (B * 2) % 7, D = -1, E = sizeof(long double) };\n"
    "int table[E][A + 1];\n",
    "typedef int (*cmp_t)(const void *, const void *);\n"
    "void qsort(void *base, size_t n, size_t size, cmp_t cmp);\n",
    "union u { double d; struct { unsigned lo, hi; } w; char bytes[sizeof(double)]; };\n",
    "struct list { struct list *next; int value; char name[16]; };\n"
    "struct list *list_find(struct list *head, const char *name, ...);\n",
    "typedef struct { int x, y; } point; point add(point a, point b);\n"
    "struct flex { int n; double items[]; };\n",
]


def declarations(text):
    """Top-level declarations of preprocessed C text, in order."""
    text = re.sub(r"^#.*$", "", text, flags=re.M)
    depth, start = 0, 0
    for i, ch in enumerate(text):
        if ch in "{(":
            depth += 1
        elif ch in "})":
            depth -= 1
        elif ch == ";" and depth == 0:
            decl = text[start:i + 1].strip()
            if decl:
                yield decl
            start = i + 1


def chunks(header):
    text = _cdef.preprocess("#include <%s>\n" % header)
    run = []
    for decl in declarations(text):
        run.append(decl)
        if sum(len(d) for d in run) > 1000:
            yield "\n".join(run) + "\n"
            run = []
    if run:
        yield "\n".join(run) + "\n"


def main(out):
    os.makedirs(out, exist_ok=True)
    written = 0
    for source in HAND_WRITTEN + [c for h in HEADERS for c in chunks(h)]:
        try:
            ferrotypes.cdef(source, preprocess=False)
        except ferrotypes.CDefError:
            continue
        data = source.encode()
        name = hashlib.sha1(data).hexdigest()[:16]
        with open(os.path.join(out, "seed-" + name), "wb") as f:
            f.write(data)
        written += 1
    print("%d seeds in %s" % (written, out))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "corpus", "cdef"))
