"""Fuzzing ``ferrotypes.cdef``: arbitrary C declarations in, bindings or ``CDefError`` out.

An input whose first byte is a control character (below 0x20) drives a grammar-based
generator of declarations (structures and unions with bit fields, arrays and nested
members, enums, typedefs, function prototypes and function pointers, ``#pragma pack``,
constant expressions with every operator, ``sizeof``/``_Alignof`` and casts); any other
input is C text as it is, so libFuzzer's byte-level mutations of the seed corpus (real
headers' declarations, ``fuzz/corpus/cdef``) reach the parser and the translator directly.

Each input goes through ``ferrotypes.cdef`` (without the C preprocessor, which would be a
subprocess per input) and, when it gives bindings, through the module generator of
``python -m ferrotypes cdef`` (its output must compile). The only exception allowed is
``CDefError``; anything else, a crash, or a case over the time limit (libFuzzer's
``-timeout``, 10 s in scripts/fuzz.sh) is a finding.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import provider as fdp_mod  # noqa: E402
import harness  # noqa: E402

import ferrotypes  # noqa: E402
from ferrotypes import _cdef  # noqa: E402

SCALARS = ["int", "char", "signed char", "unsigned char", "short", "unsigned short",
           "unsigned", "long", "unsigned long", "long long", "unsigned long long", "float",
           "double", "long double", "_Bool", "size_t", "ssize_t", "wchar_t", "int8_t",
           "uint16_t", "int32_t", "uint64_t", "intptr_t", "void", "__int128", "bool",
           "const int", "volatile unsigned", "char *", "void *", "const char *", "int **"]
BINOPS = ["+", "-", "*", "/", "%", "<<", ">>", "&", "|", "^", "&&", "||", "==", "!=", "<",
          ">", "<=", ">="]
UNOPS = ["-", "+", "~", "!"]
LITERALS = ["0", "1", "7", "8", "31", "32", "63", "64", "65", "-1", "0x7f", "0xffffffff",
            "0x7fffffffffffffff", "0xffffffffffffffffu", "077", "08", "1u", "2L", "3ull", "'a'",
            "'\\n'", "'\\x41'", "'\\0'", "1.5", "2e3", "1.0f", "\"s\"", "1000000", "4096",
            "9999999999999999999999", "0b101"]


class Gen:
    """Declarations from the fuzzer's bytes."""

    def __init__(self, data):
        self.p = fdp_mod.Provider(data)
        self.tags = []
        self.typedefs = []
        self.enumerators = []
        self.n = 0

    def name(self, prefix):
        self.n += 1
        return "%s%d" % (prefix, self.n)

    def type_name(self, depth=0):
        p = self.p
        roll = p.int(10)
        if roll < 5 or depth > 2:
            return p.pick(SCALARS)
        if roll < 7 and self.tags:
            return p.pick(self.tags)
        if roll < 9 and self.typedefs:
            return p.pick(self.typedefs)
        if roll == 9:
            return self.record(depth + 1)
        return p.pick(SCALARS)

    def expr(self, depth=0):
        p = self.p
        roll = p.int(12)
        if depth > 3 or roll < 4:
            return p.pick(LITERALS) if not p.int(4) else str(p.signed(64))
        if roll < 5 and self.enumerators:
            return p.pick(self.enumerators)
        if roll < 6:
            return "%s(%s)" % (p.pick(UNOPS), self.expr(depth + 1))
        if roll < 9:
            return "(%s %s %s)" % (self.expr(depth + 1), p.pick(BINOPS), self.expr(depth + 1))
        if roll < 10:
            return "(%s ? %s : %s)" % (self.expr(depth + 1), self.expr(depth + 1),
                                       self.expr(depth + 1))
        if roll < 11:
            return "%s(%s)" % (p.pick(["sizeof", "_Alignof", "sizeof"]), self.type_name(depth + 1))
        return "((%s)%s)" % (p.pick(SCALARS[:24]), self.expr(depth + 1))

    def declarator(self, name):
        p = self.p
        roll = p.int(8)
        if roll == 0:
            return "%s[%s]" % (name, self.expr())
        if roll == 1:
            return "%s[]" % name
        if roll == 2:
            return "*%s" % name
        if roll == 3:
            return "(*%s)(%s)" % (name, self.params())
        if roll == 4:
            return "%s[%s][%s]" % (name, self.expr(2), self.expr(2))
        return name

    def params(self):
        p = self.p
        count = p.int(5)
        if count == 0:
            return p.pick(["", "void"])
        out = ["%s %s" % (self.type_name(2), self.declarator(self.name("a"))) for _ in range(count)]
        if p.int(4) == 0:
            out.append("...")
        return ", ".join(out)

    def record(self, depth=0):
        p = self.p
        kind = p.pick(["struct", "union"])
        named = p.int(3) != 0
        tag = self.name("T") if named else ""
        if p.int(6) == 0 and named:  # a forward declaration only
            self.tags.append("%s %s" % (kind, tag))
            return "%s %s" % (kind, tag)
        fields = []
        for _ in range(p.int(7)):
            roll = p.int(6)
            if roll < 2:
                width = self.expr(2) if p.int(3) else p.pick(["0", "1", "3", "33", "-1", "65"])
                name = self.name("b") if p.int(5) else ""
                fields.append("%s %s : %s;" % (p.pick(SCALARS[:12]), name, width))
            elif roll == 2 and depth < 3:
                fields.append("%s%s;" % (self.record(depth + 1),
                                         "" if p.int(2) else " " + self.name("m")))
            else:
                fields.append("%s %s;" % (self.type_name(depth + 1), self.declarator(self.name("f"))))
        text = "%s %s { %s }" % (kind, tag, " ".join(fields))
        if named:
            self.tags.append("%s %s" % (kind, tag))
        return text

    def enum(self):
        p = self.p
        items = []
        for _ in range(1 + p.int(5)):
            e = self.name("E")
            items.append("%s = %s" % (e, self.expr()) if p.int(2) else e)
            self.enumerators.append(e)
        tag = self.name("En")
        self.tags.append("enum %s" % tag)
        return "enum %s { %s };" % (tag, ", ".join(items))

    def pragma(self):
        p = self.p
        arg = p.pick(["1", "2", "4", "8", "16", "0", "3", "push, 2", "push", "pop", "",
                      "push, 1", "pop, 4", "x", "push, x", "-1", "0x4", "99999999999", "4,"])
        return "#pragma pack(%s)" % arg

    def declaration(self):
        p = self.p
        roll = p.int(9)
        if roll == 0:
            return self.record() + ";"
        if roll == 1:
            return self.enum()
        if roll == 2:
            name = self.name("t")
            text = "typedef %s %s;" % (self.type_name(), self.declarator(name))
            self.typedefs.append(name)
            return text
        if roll == 3:
            return "%s %s(%s);" % (self.type_name(), self.name("fn"), self.params())
        if roll == 4:
            return self.pragma()
        if roll == 5:
            return "extern %s %s;" % (self.type_name(), self.declarator(self.name("v")))
        if roll == 6:
            return "static inline int %s(void) { return 0; }" % self.name("g")
        if roll == 7:
            return "typedef %s (*%s)(%s);" % (self.type_name(), self.name("cb"), self.params())
        return "%s;" % self.record()

    def source(self):
        return "\n".join(self.declaration() for _ in range(1 + self.p.int(8))) + "\n"


def source_of(data):
    if data[:1] and data[0] < 0x20:
        return Gen(data[1:]).source()
    return data.decode("utf-8", "surrogateescape")


def test_one_input(data):
    source = source_of(data)
    try:
        ns = ferrotypes.cdef(source, preprocess=False)
    except ferrotypes.CDefError as exc:
        assert str(exc), "CDefError without a message"
        return
    # Bindings: every name resolves to a ferrotypes object or a constant.
    for name in dir(ns):
        getattr(ns, name)
    builder, macros = _cdef.parse(source, preprocess=False)
    code = _cdef.generate_module(builder, macros)
    compile(code, "<generated>", "exec")


if __name__ == "__main__":
    harness.main(test_one_input, "cdef")
