"""Layouts and prototypes checked against the C compiler: ``ferrotypes.verify``.

``verify(Type, "struct stat", headers=["sys/stat.h"])`` writes a small C program that
includes the headers and prints, for the C type and every member the ferrotypes type
declares (recursively through nested structures and anonymous members), ``sizeof``,
``_Alignof``, ``offsetof``, the value class (``__builtin_classify_type`` and signedness)
and, for bit fields, the bit position and width, found at run time by setting the member
to all ones in a zeroed object and scanning its bytes. It compiles and runs the program
with the system compiler and compares every number with the ferrotypes type's own
(``sizeof``, ``alignment``, ``Type.field.offset``/``.size``). Any difference raises
:class:`LayoutMismatch`, whose message is a table of the rows that differ.

``verify_function(func, "compress", headers=["zlib.h"])`` reads the prototype from the
headers (with :mod:`ferrotypes._cdef`), has the compiler confirm that reading
(``__builtin_types_compatible_p`` against the declared function), and compares each
parameter's and the result's size, alignment and value class with ``argtypes``/``restype``.
"""

import os
import subprocess
import tempfile

import ferrotypes as _ft

__all__ = ["verify", "verify_function", "LayoutMismatch", "VerifyReport"]


class VerifyReport:
    """The rows compared: ``(what, ferrotypes value, C value)``; ``ok`` if all agree."""

    def __init__(self, subject, rows):
        self.subject, self.rows = subject, rows

    @property
    def mismatches(self):
        return [r for r in self.rows if r[1] != r[2]]

    @property
    def ok(self):
        return not self.mismatches

    def table(self, only_mismatches=False):
        rows = self.mismatches if only_mismatches else self.rows
        head = ("", "ferrotypes", "C", "")
        body = [(w, str(a), str(b), "" if a == b else "MISMATCH") for w, a, b in rows]
        widths = [max(len(r[i]) for r in [head] + body) for i in range(4)]
        fmt = "  ".join("%%-%ds" % w for w in widths)
        lines = [fmt % head, fmt % tuple("-" * w for w in widths)]
        lines += [(fmt % r).rstrip() for r in body]
        return "\n".join(lines)

    def __str__(self):
        state = "agrees with C" if self.ok else "%d mismatches" % len(self.mismatches)
        return "%s: %s\n%s" % (self.subject, state, self.table())

    def __repr__(self):
        return "<VerifyReport %s: %s>" % (self.subject, "ok" if self.ok else "mismatch")


LayoutMismatch = _ft.LayoutMismatch


# ---------------------------------------------------------------------------
# Compiling probes

_PROBE_CACHE = {}


def _include_lines(headers):
    if isinstance(headers, (str, os.PathLike)):
        headers = [headers]
    lines = []
    for h in headers:
        h = os.fspath(h)
        if h.startswith(("<", '"')):
            lines.append("#include %s" % h)
        elif os.path.exists(h):
            lines.append('#include "%s"' % os.path.abspath(h))
        else:
            lines.append("#include <%s>" % h)
    return "\n".join(lines)


def _cc(cc):
    from ._cdef import _find_cc
    return _find_cc(cc)


def _run_probe(source, include_dirs, defines, cc):
    """Compile and run a probe; returns its stdout. Outputs are cached per process."""
    cmd = _cc(cc) + ["-std=gnu11", "-w"] + ["-I" + str(d) for d in include_dirs]
    for d in defines:
        if isinstance(d, (tuple, list)):
            d = "%s=%s" % tuple(d) if d[1] is not None else d[0]
        cmd.append("-D" + str(d))
    key = (source, tuple(cmd))
    if key in _PROBE_CACHE:
        return _PROBE_CACHE[key]
    with tempfile.TemporaryDirectory(prefix="ferrotypes-verify-") as tmp:
        src, exe = os.path.join(tmp, "probe.c"), os.path.join(tmp, "probe")
        with open(src, "w") as f:
            f.write(source)
        try:
            # LC_ALL=C: plain-ASCII diagnostics, which verify() reads.
            proc = subprocess.run(cmd + [src, "-o", exe], capture_output=True, text=True,
                                  env=dict(os.environ, LC_ALL="C"))
        except FileNotFoundError as exc:
            raise RuntimeError("C compiler not found: %s" % exc) from None
        if proc.returncode:
            raise _CompileError(proc.stderr)
        out = subprocess.run([exe], capture_output=True, text=True, check=True).stdout
    _PROBE_CACHE[key] = out
    return out


class _CompileError(Exception):
    def __init__(self, stderr):
        self.stderr = stderr
        super().__init__("the probe did not compile:\n" + stderr)


# The value class of a C expression: signedness from its type (_Generic; an enum matches
# its compatible integer type), pointers and records by __builtin_classify_type (GCC's
# typeclass.h: 5 pointer, 12 record, 13 union).
_CLASSIFY = """\
#define FT_CLASS(x) _Generic((x), \
    char: ((char)-1 < 0 ? "int" : "uint"), signed char: "int", short: "int", int: "int", \
    long: "int", long long: "int", unsigned char: "uint", unsigned short: "uint", \
    unsigned int: "uint", unsigned long: "uint", unsigned long long: "uint", _Bool: "uint", \
    float: "float", double: "float", long double: "float", \
    float _Complex: "complex", double _Complex: "complex", long double _Complex: "complex", \
    default: (__builtin_classify_type(x) == 5 ? "pointer" \
              : __builtin_classify_type(x) == 12 || __builtin_classify_type(x) == 13 \
              ? "record" : "other"))
"""


def _ft_class(t, as_argument=False):
    """The value class of a ferrotypes type, in the probe's terms."""
    if isinstance(t, type) and issubclass(t, _ft._SimpleCData):
        code = t._type_
        if code in ("Zf", "Zd", "Zg", "F", "D", "G"):
            return "complex"
        if code in "bhilqu":
            return "int"
        if code in "BHILQ?":
            return "uint"
        if code == "c":
            return "int" if _c_char_signed() else "uint"
        if code in "fdg":
            return "float"
        return "pointer"
    if isinstance(t, type) and issubclass(t, (_ft._Pointer, _ft._CFuncPtr)):
        return "pointer"
    if isinstance(t, type) and issubclass(t, (_ft.Structure, _ft.Union)):
        return "record"
    if isinstance(t, type) and issubclass(t, _ft.Array):
        return "pointer" if as_argument else "array"
    return "other"


_char_signed = None


def _c_char_signed():
    global _char_signed
    if _char_signed is None:
        import platform
        _char_signed = platform.machine() not in ("aarch64", "arm64", "armv7l", "ppc64le",
                                                  "s390x")
    return _char_signed


# ---------------------------------------------------------------------------
# Layouts

def _members(cls, prefix=""):
    """(C member path, ferrotypes field type, absolute offset, CField) for every field,
    through anonymous members (their fields are members of the enclosing C type) and
    nested structures."""
    out = []
    anonymous = set(getattr(cls, "_anonymous_", ()))
    padding = set(cls.__dict__.get("_cdef_padding_", ()))  # members C does not name
    for field in getattr(cls, "_fields_", ()):
        name, ftype = field[0], field[1]
        if name in padding:
            continue
        descr = getattr(cls, name)
        if name in anonymous:
            for path, t, off, d, nested in _members(ftype, prefix):
                out.append((path, t, off + descr.offset, d, nested))
            continue
        path = prefix + name
        out.append((path, ftype, descr.offset, descr, prefix != ""))
        if len(field) == 2 and isinstance(ftype, type) and issubclass(
                ftype, (_ft.Structure, _ft.Union)):
            for sub, t, off, d, _ in _members(ftype, path + "."):
                out.append((sub, t, off + descr.offset, d, True))
    return out


def _layout_probe(c_name, headers, members):
    lines = ["#include <stddef.h>", "#include <stdio.h>", "#include <string.h>",
             _include_lines(headers), _CLASSIFY,
             "typedef %s ft_T;" % c_name, "static ft_T ft_v;", "int main(void) {",
             'printf("size %zu\\n", sizeof(ft_T));',
             'printf("align %zu\\n", (size_t)_Alignof(ft_T));']
    for path, _t, _off, descr, _nested in members:
        bits = descr.size >> 16
        if bits:
            lines.append(
                "{ size_t i; long first = -1, count = 0; unsigned char *p = (unsigned char *)"
                "&ft_v; memset(&ft_v, 0, sizeof ft_v); ft_v.%s = -1; if (!ft_v.%s) ft_v.%s = 1;"
                " for (i = 0; i < sizeof ft_v * 8; i++) if (p[i / 8] >> (i %% 8) & 1) "
                "{ if (first < 0) first = (long)i; count++; }"
                ' printf("bits %s %%ld %%ld\\n", first, count); }' % (path, path, path, path))
        else:
            lines.append('printf("field %s %%zu %%zu %%s\\n", offsetof(ft_T, %s), '
                         'sizeof(ft_v.%s), FT_CLASS(ft_v.%s));' % (path, path, path, path))
    lines += ["return 0;", "}"]
    return "\n".join(lines) + "\n"


def verify(cls, c_name, *, headers, include_dirs=(), defines=(), cc=None):
    """Compare ``cls`` (a Structure, Union, array or simple type) with the C type
    ``c_name`` as declared by ``headers``; return a :class:`VerifyReport` when every
    size, alignment, member offset, size, value class and bit position agrees, raise
    :class:`LayoutMismatch` (``.report`` holds the table) when one does not."""
    members = _members(cls) if isinstance(cls, type) and issubclass(
        cls, (_ft.Structure, _ft.Union)) else []
    rows = []
    # Members C does not have are reported, then left out of the probe.
    for _ in range(len(members) + 1):
        source = _layout_probe(c_name, headers, members)
        try:
            out = _run_probe(source, include_dirs, defines, cc)
            break
        except _CompileError as exc:
            missing = [m for m in members
                       if "no member named '%s'" % m[0].split(".")[-1] in exc.stderr]
            if not missing:
                raise RuntimeError("verify(%s): %s" % (c_name, exc)) from None
            for m in missing:
                rows.append(("%s: member" % m[0], "present", "absent"))
            members = [m for m in members if m not in missing]
    c_values = {}
    for line in out.splitlines():
        kind, *rest = line.split()
        c_values[(kind, rest[0] if kind in ("field", "bits") else None)] = rest
    subject = "%s (%s)" % (getattr(cls, "__name__", cls), c_name)
    rows.insert(0, ("sizeof", _ft.sizeof(cls), int(c_values[("size", None)][0])))
    rows.insert(1, ("alignment", _ft.alignment(cls), int(c_values[("align", None)][0])))
    for path, ftype, offset, descr, _nested in members:
        bits = descr.size >> 16
        if bits:
            first, count = (int(v) for v in c_values[("bits", path)][1:])
            ft_first = offset * 8 + (descr.size & 0xFFFF)
            rows.append(("%s: bit position" % path, ft_first, first))
            rows.append(("%s: bit width" % path, bits, count))
        else:
            c_off, c_size, c_class = c_values[("field", path)][1:]
            rows.append(("%s: offset" % path, offset, int(c_off)))
            rows.append(("%s: size" % path, descr.size, int(c_size)))
            ours = _ft_class(ftype)
            if ours in ("array", "other"):
                continue  # C arrays and records are covered by sizes and nested rows
            if ours == "uint" and c_class == "int" and ftype._type_ == "c":
                continue
            rows.append(("%s: class" % path, ours, c_class))
    report = VerifyReport(subject, rows)
    if not report.ok:
        raise LayoutMismatch(report)
    return report


# ---------------------------------------------------------------------------
# Prototypes

def _prototype(c_name, headers, include_dirs, defines, cc):
    """The pycparser declaration of function ``c_name`` in the headers, and the text
    (for the compiler) of its result and parameter types."""
    from pycparser import c_ast, c_generator
    from . import _cdef
    text = _cdef.preprocess(_include_lines(headers), "<verify>", include_dirs=include_dirs,
                            defines=defines, cc=cc)
    text = '# 1 "%s"\n%s%s' % (_cdef._BUILTIN_FILE, _cdef._BUILTIN_TYPEDEFS,
                               _cdef.clean_gnu_extensions(text))
    ast = _cdef._parse(text, "<verify>")
    builder = _cdef._Builder()
    ast.ext = [n for n in ast.ext
               if not (n.coord is not None and n.coord.file == _cdef._BUILTIN_FILE)]
    builder.run(ast)
    decl = next((n for n in ast.ext if isinstance(n, c_ast.Decl) and n.name == c_name
                 and isinstance(n.type, c_ast.FuncDecl)), None)
    if decl is None:
        raise LookupError("no prototype of %r in %s" % (c_name, headers))
    gen = c_generator.CGenerator()

    def spell(node):
        node = _strip_names(node)
        return gen.visit(c_ast.Typename(None, [], None, node))

    func = decl.type
    params, variadic = [], False
    for p in (func.args.params if func.args else []):
        if isinstance(p, c_ast.EllipsisParam):
            variadic = True
        else:
            params.append(spell(p.type))
    if params == ["void"]:
        params = []
    return spell(func.type), params, variadic, builder.functions.get(c_name)


def _strip_names(node):
    import copy
    from pycparser import c_ast
    node = copy.deepcopy(node)
    n = node
    while n is not None:
        if isinstance(n, c_ast.TypeDecl):
            n.declname = None
            break
        if isinstance(n, c_ast.FuncDecl):
            n = n.type
            continue
        n = getattr(n, "type", None)
    return node


def verify_function(func, c_name=None, *, headers, include_dirs=(), defines=(), cc=None):
    """Compare ``func.argtypes``/``func.restype`` with the prototype of ``c_name`` (default:
    ``func.__name__``) in ``headers``: parameter count, variadic ``...``, and each type's
    size, alignment and value class (an ``int`` where C has ``size_t`` differs in size).
    Returns a :class:`VerifyReport` or raises :class:`LayoutMismatch`."""
    c_name = c_name or func.__name__
    ret, params, variadic, _sig = _prototype(c_name, headers, include_dirs, defines, cc)
    lines = ["#include <stdio.h>", _include_lines(headers), _CLASSIFY, "int main(void) {",
             'printf("proto %%d\\n", __builtin_types_compatible_p(__typeof__(%s), %s (%s)));'
             % (c_name, ret, ", ".join(params + (["..."] if variadic else [])) or "void")]
    for i, p in enumerate(params):
        lines.append('{ %s; printf("arg %d %%zu %%zu %%s\\n", sizeof v, (size_t)_Alignof(%s), '
                     "FT_CLASS(v)); }" % (_declare(p, "v"), i, p))
    if ret != "void":
        lines.append('{ %s; printf("ret %%zu %%zu %%s\\n", sizeof v, (size_t)_Alignof(%s), '
                     "FT_CLASS(v)); }" % (_declare(ret, "v"), ret))
    lines += ["return 0;", "}"]
    out = _run_probe("\n".join(lines) + "\n", include_dirs, defines, cc)
    results = {}
    for line in out.splitlines():
        kind, *rest = line.split()
        key = (kind, int(rest.pop(0))) if kind == "arg" else (kind, None)
        results[key] = rest
    if results[("proto", None)] != ["1"]:
        raise RuntimeError("verify_function(%s): could not restate the prototype for the "
                           "compiler" % c_name)
    argtypes = list(func.argtypes or ())
    ft_variadic = bool(argtypes) and argtypes[-1] is Ellipsis
    if ft_variadic:
        argtypes.pop()
    rows = [("parameters", len(argtypes), len(params)),
            ("variadic (...)", "yes" if ft_variadic else "no", "yes" if variadic else "no")]
    for i, (p, t) in enumerate(zip(params, argtypes)):
        size, align, klass = results[("arg", i)]
        rows += _value_rows("argument %d (%s)" % (i + 1, p), t, int(size), int(align), klass)
    restype = func.restype
    if ret == "void":
        rows.append(("result", _type_label(restype), "void"))
    elif restype is None:
        rows.append(("result", "void", ret))
    else:
        size, align, klass = results[("ret", None)]
        rows += _value_rows("result (%s)" % ret, restype, int(size), int(align), klass)
    report = VerifyReport("%s (%s)" % (getattr(func, "__name__", func), c_name), rows)
    if not report.ok:
        raise LayoutMismatch(report)
    return report


def _declare(type_text, name):
    # Array and function-pointer spellings put the name inside; pointers and plain
    # types after. __typeof__ avoids parsing the spelling here.
    return "__typeof__(%s) %s" % (type_text, name)


def _type_label(t):
    return "void" if t is None else getattr(t, "__name__", repr(t))


def _value_rows(what, t, size, align, klass):
    if not (isinstance(t, type) and hasattr(t, "_type_") or isinstance(t, type)
            and issubclass(t, (_ft.Structure, _ft.Union, _ft._Pointer, _ft._CFuncPtr,
                               _ft.Array))):
        return [(what + ": type", _type_label(t), "a C type")]
    ours = _ft_class(t, as_argument=True)
    if ours == "uint" and klass == "int" and getattr(t, "_type_", None) == "c":
        ours = klass
    return [(what + ": size", _ft.sizeof(t) if ours != "pointer" else _ft.sizeof(_ft.c_void_p),
             size),
            (what + ": alignment", _ft.alignment(t) if ours != "pointer"
             else _ft.alignment(_ft.c_void_p), align),
            (what + ": class", ours, klass)]
