"""Bindings from C declarations: ``ferrotypes.cdef(source, lib)``.

The C text is parsed with pycparser (optionally after the system C preprocessor has
expanded ``#include`` and macros) and every declaration becomes an ordinary ferrotypes
object: ``Structure``/``Union`` subclasses, simple types, ``POINTER``/array/``CFUNCTYPE``
types, integer constants, and, given a library, foreign functions with ``argtypes`` and
``restype`` set. Nothing here is a new kind of object: what ``cdef`` returns works wherever
hand-written ctypes declarations do.

How C maps to ferrotypes (see ``docs/guide/cdef.md``):

* scalars by their C spelling; ``size_t``/``ssize_t``/``wchar_t``/``bool`` and the
  ``<stdint.h>`` names to ``c_size_t``, ``c_ssize_t``, ``c_wchar``, ``c_bool``, ``c_int32``...;
* ``char *`` to ``c_char_p`` and ``wchar_t *`` to ``c_wchar_p`` (as hand-written ctypes
  code does), ``void *`` to ``c_void_p``, other pointers to ``POINTER(T)``, pointers to
  functions to ``CFUNCTYPE`` types;
* ``enum`` types to the integer type GCC gives them (``unsigned int``, or ``int`` with
  negative values, wider when the values need it); the enumerators become constants;
* bit fields, anonymous members (``_anonymous_``), flexible array members (``T * 0``),
  ``#pragma pack``; an incomplete ``struct`` is a ``Structure`` without ``_fields_``,
  completed when its definition follows;
* functions declared with ``...`` get the variadic marker (:data:`ferrotypes.VARIADIC`)
  at the end of their ``argtypes``.
"""

import os
import platform as _platform
import re
import shlex
import subprocess
import sys as _sys

import pycparser
from pycparser import c_ast, c_parser

import ferrotypes as _ft

__all__ = ["cdef", "CDefError", "CDefNamespace", "Signature", "preprocess"]


CDefError = _ft.CDefError


class Signature:
    """A function's C prototype in ferrotypes terms."""

    __slots__ = ("name", "restype", "argtypes", "variadic")

    def __init__(self, name, restype, argtypes, variadic):
        self.name, self.restype = name, restype
        self.argtypes, self.variadic = tuple(argtypes), variadic

    def ctypes_argtypes(self):
        """The list to assign to a function's ``argtypes`` (with the variadic marker)."""
        return list(self.argtypes) + ([_ft.VARIADIC] if self.variadic else [])

    def prototype(self):
        """A ``CFUNCTYPE`` type for the signature (ending with the variadic marker when
        the function takes ``...``)."""
        return _ft.CFUNCTYPE(self.restype, *self.ctypes_argtypes())

    def __repr__(self):
        args = ", ".join(_type_name(a) for a in self.argtypes)
        if self.variadic:
            args += ", ..." if args else "..."
        return "<Signature %s %s(%s)>" % (_type_name(self.restype), self.name, args)


def _type_name(t):
    return "void" if t is None else getattr(t, "__name__", repr(t))


# ---------------------------------------------------------------------------
# Preprocessing and clean-up of GNU C

# What pycparser (plain C11) cannot read in glibc-style headers, neutralized while
# preprocessing. __GNUC__ stays defined: headers take other paths without it.
# `__attribute__` survives preprocessing: the layout attributes (packed, aligned) are read
# from the text (`_layout_attributes`) before `clean_gnu_extensions` blanks every attribute.
GNU_DEFINES = (
    "__extension__=", "__asm__(x)=", "__asm(x)=",
    "__restrict=", "__restrict__=", "__inline=", "__inline__=", "__const=const",
    "__signed__=signed", "__volatile__=volatile", "__thread=", "_Noreturn=",
    "__builtin_offsetof(t,m)=((unsigned long)&((t*)0)->m)",
    "_Float16=short", "_Float32=float", "_Float64=double", "_Float128=long double",
    "_Float32x=double", "_Float64x=long double", "__float128=long double",
    "__typeof__(x)=int",
)

# Typedefs every parse starts with: compiler built-ins (preprocessed headers use them), and
# the standard names a snippet may use without its #include.
_BUILTIN_FILE = "<ferrotypes builtins>"
_BUILTIN_TYPEDEFS = """\
typedef struct __ferrotypes_va_list *__builtin_va_list;
typedef __builtin_va_list va_list;
typedef unsigned long size_t; typedef long ssize_t; typedef long ptrdiff_t;
typedef int wchar_t; typedef _Bool bool;
typedef signed char int8_t; typedef short int16_t; typedef int int32_t; typedef long int64_t;
typedef unsigned char uint8_t; typedef unsigned short uint16_t;
typedef unsigned int uint32_t; typedef unsigned long uint64_t;
typedef long intptr_t; typedef unsigned long uintptr_t;
typedef long intmax_t; typedef unsigned long uintmax_t;
"""

# GNU spellings left in text that was not preprocessed: blanked in place (same length, so
# line and column numbers stay right).
_GNU_CALLS = re.compile(r"\b(?:__attribute__|__attribute|__asm__|__asm|__declspec)\s*\(")
_GNU_WORDS = re.compile(r"\b(?:__extension__|__restrict__|__restrict|__thread|_Noreturn)\b")
_GNU_RENAMES = {"__inline__": "inline", "__inline": "inline", "__const": "const",
                "__signed__": "signed", "__volatile__": "volatile"}
_GNU_RENAME_RE = re.compile(r"\b(?:%s)\b" % "|".join(_GNU_RENAMES))


def _blank(text, start, end):
    return text[:start] + re.sub(r"[^\n]", " ", text[start:end]) + text[end:]


def _closing_paren(text, i):
    """The index of the ``)`` that closes the ``(`` at ``text[i]`` (or ``len(text)`` when
    it is never closed)."""
    depth = 0
    while i < len(text):
        if text[i] == "(":
            depth += 1
        elif text[i] == ")":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return i


def clean_gnu_extensions(text):
    """Blank out GNU C extensions pycparser cannot parse, keeping every position."""
    pos = 0
    while True:
        m = _GNU_CALLS.search(text, pos)
        if not m:
            break
        i = _closing_paren(text, m.end() - 1)
        text = _blank(text, m.start(), i + 1)
        pos = i + 1
    text = _GNU_WORDS.sub(lambda m: " " * len(m.group()), text)
    return _GNU_RENAME_RE.sub(lambda m: _GNU_RENAMES[m.group()].ljust(len(m.group())), text)


_ALIGNOF_SCALARS = {"char": 1, "short": 2, "int": 4, "long": 8, "long long": 8, "float": 4,
                    "double": 8, "long double": 16, "void *": 8, "__int128": 16,
                    "max_align_t": 16}


def _attribute_spans(text):
    """(start, end, inner text) of every ``__attribute__((...))`` in ``text``."""
    spans, pos = [], 0
    while True:
        m = _GNU_CALLS.search(text, pos)
        if not m:
            return spans
        i = _closing_paren(text, m.end() - 1)
        if m.group().startswith("__attribute"):
            spans.append((m.start(), i + 1, text[m.end():i]))
        pos = i + 1


def _layout_meaning(inner):
    """The layout attributes in one attribute list: {"packed": True, "aligned": N}.
    ``aligned`` without a value is the target's largest alignment (16 on x86-64); a value
    that is not a constant this reader understands is ``None`` (reported as skipped)."""
    found = {}
    mode = re.search(r"\b_*mode_*\s*\(\s*_*(\w+?)_*\s*\)", inner)
    if mode:
        found["mode"] = mode.group(1)
    for m in re.finditer(r"\b_*(packed|aligned)_*\b\s*(\((?:[^()]|\([^()]*\))*\))?", inner):
        if m.group(1) == "packed":
            found["packed"] = True
            continue
        arg = (m.group(2) or "")[1:-1].strip()
        if not arg:
            found["aligned"] = 16
            continue
        a = re.fullmatch(r"(?:__alignof__|_Alignof|__alignof|sizeof)\s*\(\s*([\w\s*]+?)\s*\)", arg)
        try:
            found["aligned"] = int(arg.rstrip("uUlL"), 0) if a is None else _ALIGNOF_SCALARS[
                re.sub(r"\s+", " ", a.group(1).replace("unsigned ", "").replace("signed ", ""))]
        except (ValueError, KeyError):
            found["aligned"] = None
    return found


_KEYWORD_BEFORE = re.compile(r"\b(struct|union)\s*$")


def _layout_attributes(text):
    """Layout attributes (``packed``, ``aligned``) in ``text``, by the source position
    pycparser gives the declaration they belong to: a structure or union by its tag's
    position (the ``{`` of an anonymous one), a member by its name's. Returns
    {(file, line, column): {"packed": ..., "aligned": ...}}."""
    spans = [(a, b, _layout_meaning(inner)) for a, b, inner in _attribute_spans(text)]
    spans = [span for span in spans if span[2]]
    if not spans:
        return {}
    blank = text
    for a, b, _ in _attribute_spans(text):
        blank = _blank(blank, a, b)
    # Line markers: where each physical line's (file, line) comes from.
    marks = [(m.start(), m.group(2), int(m.group(1)))
             for m in re.finditer(r'^#\s*(?:line\s+)?(\d+)\s+"([^"]*)"', blank, re.M)]

    def coord(index):
        file, line, base = "<cdef>", 1, 0
        for start, f, n in marks:
            if start >= index:
                break
            file, line, base = f, n, blank.index("\n", start) + 1
        line += blank.count("\n", base, index)
        return file, line, index - blank.rfind("\n", 0, index)

    def word_before(index):
        j = index
        while j > 0 and blank[j - 1].isspace():
            j -= 1
        k = j
        while k > 0 and (blank[k - 1].isalnum() or blank[k - 1] == "_"):
            k -= 1
        return k, blank[k:j]

    def record_key(brace):
        """The key of the structure whose body opens at ``brace``."""
        k, word = word_before(brace)
        if word in ("struct", "union"):
            return coord(brace)
        if word and _KEYWORD_BEFORE.search(blank[:k]):
            return coord(k)
        return None

    found = {}
    for start, end, meaning in spans:
        k, word = word_before(start)
        key = None
        if word in ("struct", "union"):                   # struct ATTR tag { ... }
            m = re.compile(r"\s*(\w+|\{)").match(blank, end)
            if m:
                key = coord(m.start(1))
        elif blank[:start].rstrip().endswith("}"):        # struct ... { ... } ATTR;
            depth, i = 0, len(blank[:start].rstrip()) - 1
            while i >= 0:
                depth += blank[i] == "}"
                depth -= blank[i] == "{"
                if depth == 0:
                    break
                i -= 1
            key = record_key(i) if i >= 0 else None
        else:                                             # member: name ATTR / name[n] ATTR
            j = len(blank[:start].rstrip())
            while j > 0 and blank[j - 1] == "]":
                j = blank.rfind("[", 0, j)
                j = len(blank[:j].rstrip())
            k, word = word_before(j)
            if word and (word[0].isalpha() or word[0] == "_"):
                key = coord(k)
        if key is not None:
            found.setdefault(key, {}).update(meaning)
    return found


def _find_cc(cc=None):
    if cc:
        return shlex.split(cc) if isinstance(cc, str) else list(cc)
    if os.environ.get("CC"):
        return shlex.split(os.environ["CC"])
    return ["cc"]


def _cpp_command(cc, include_dirs, defines, extra=()):
    cmd = _find_cc(cc) + ["-E", "-x", "c", "-std=gnu11"]
    cmd += ["-D" + d for d in GNU_DEFINES]
    cmd += ["-I" + str(d) for d in include_dirs]
    for d in defines:
        if isinstance(d, (tuple, list)):
            d = "%s=%s" % tuple(d) if d[1] is not None else d[0]
        cmd.append("-D" + str(d))
    cmd += list(extra) + ["-"]
    return cmd


def preprocess(source, filename="<cdef>", *, include_dirs=(), defines=(), cc=None):
    """Run the system C preprocessor over ``source``; returns its output, line markers
    included. Raises :class:`CDefError` with the compiler's message on failure."""
    text = '#line 1 "%s"\n%s\n' % (filename, source)
    cmd = _cpp_command(cc, include_dirs, defines)
    try:
        proc = subprocess.run(cmd, input=text, capture_output=True, text=True)
    except FileNotFoundError as exc:
        raise CDefError("C preprocessor not found: %s" % exc) from None
    if proc.returncode:
        err = proc.stderr.strip()
        m = re.search(r"^(.*?):(\d+):(\d+): (?:fatal )?error: (.*)$", err, re.M)
        if m:
            raise CDefError(m.group(4), m.group(1), int(m.group(2)), int(m.group(3)))
        raise CDefError("preprocessing failed: %s" % err)
    return proc.stdout


_NUMBER = re.compile(r"^\(*\s*([-+~]?)\s*(0[xX][0-9a-fA-F]+|\d+\.\d*(?:[eE][-+]?\d+)?|"
                     r"\.\d+(?:[eE][-+]?\d+)?|\d+[eE][-+]?\d+|\d+)([uUlLfF]*)\s*\)*$")


def _macro_value(body, known):
    """The value of a simple object-like macro: a number, a string, or another macro."""
    body = body.strip()
    if body.count("(") != body.count(")"):
        return None
    m = _NUMBER.match(body)
    if m:
        sign, digits, suffix = m.groups()
        if re.fullmatch(r"0[xX][0-9a-fA-F]+|\d+", digits) and "f" not in suffix.lower():
            value = int(digits, 0) if not re.fullmatch(r"0\d+", digits) else int(digits, 8)
        elif re.fullmatch(r"0[xX][0-9a-fA-F]+", digits):
            return None
        else:
            value = float(digits)
        if sign == "-":
            value = -value
        elif sign == "~":
            if not isinstance(value, int):
                return None
            value = ~value
        return value
    if re.fullmatch(r'"(?:[^"\\]|\\.)*"', body):
        try:
            return body[1:-1].encode("latin-1").decode("unicode_escape").encode("latin-1")
        except (UnicodeError, ValueError):
            return None
    if re.fullmatch(r"[A-Za-z_]\w*", body) and body in known:
        return known[body]
    return None


def _macros(source, filename, include_dirs, defines, cc):
    """Simple numeric and string ``#define`` constants visible after the source's
    includes (``cc -dM -E``); names starting with ``__`` (the compiler's) are left out."""
    text = '#line 1 "%s"\n%s\n' % (filename, source)
    cmd = _cpp_command(cc, include_dirs, defines, extra=["-dM"])
    proc = subprocess.run(cmd, input=text, capture_output=True, text=True)
    if proc.returncode:
        return {}
    raw = {}
    for line in proc.stdout.splitlines():
        m = re.match(r"#define ([A-Za-z_]\w*) (.*)$", line)
        if m and not m.group(1).startswith("__"):
            raw[m.group(1)] = m.group(2)
    values = {}
    for _ in range(3):  # aliases of aliases
        for name, body in raw.items():
            if name not in values:
                v = _macro_value(body, values)
                if v is not None:
                    values[name] = v
    return values


# ---------------------------------------------------------------------------
# Parsing

def _parse(text, filename):
    parser = c_parser.CParser()
    try:
        return parser.parse(text, filename)
    except c_parser.ParseError as exc:
        raise _parse_error(parser, str(exc)) from None
    except RecursionError:
        raise _parse_error(parser, "declarations nested too deeply") from None
    except Exception as exc:  # noqa: BLE001 - pycparser's own failures on bad input
        # pycparser trips over some malformed input with an internal error (an assertion
        # on an unbalanced '}', an AttributeError on a misplaced storage class): still
        # a parse error of the input, reported like one.
        raise _parse_error(parser, "cannot parse this (%s in pycparser)"
                           % type(exc).__name__) from None


def _parse_error(parser, message):
    m = re.match(r"^(.*?):(\d+):(\d+): (.*)$", message, re.S)
    if m:
        return CDefError(m.group(4), m.group(1), int(m.group(2)), int(m.group(3)))
    # Some pycparser errors carry the file only: take the position of the token the
    # parser stopped at (pycparser >= 3 keeps its token buffer).
    msg = message.split(": ", 1)[-1]
    try:
        stream = parser._tokens
        tok = stream._buffer[min(stream._index, len(stream._buffer)) - 1]
        return CDefError("%s (at %r)" % (msg, tok.value), parser.clex.filename,
                         tok.lineno, tok.column)
    except (AttributeError, IndexError, TypeError):
        return CDefError(message)


def _where(node):
    c = getattr(node, "coord", None)
    return (c.file, c.line, c.column) if c is not None else (None, None, None)


class _Void:
    def __repr__(self):
        return "void"


_VOID = _Void()


class _FuncType:
    """A C function type (not a ctypes type: only a pointer to it is)."""

    def __init__(self, restype, argtypes, variadic):
        self.restype, self.argtypes, self.variadic = restype, argtypes, variadic


class _Unsupported(Exception):
    pass


# va_list: on x86-64 System V an array of one 24-byte `struct __va_list_tag` (which is
# what a structure member or a variable of that type occupies), passed to functions as a
# pointer (`vprintf(fmt, ap)`), which cdef declares as c_void_p; elsewhere a pointer.
_VA_LIST = (_ft.c_void_p * 3 if _platform.machine() in ("x86_64", "AMD64") and _ft.sizeof(_ft.c_void_p) == 8
            and _sys.platform != "win32" else _ft.c_void_p)
_VA_LIST_SPELLING = "(ctypes.c_void_p * 3)" if _VA_LIST is not _ft.c_void_p else "ctypes.c_void_p"

# GCC's `mode` attribute on an integer typedef (`typedef int register_t
# __attribute__((__mode__(__word__)))`): the width it gives, in bytes (TI: 128 bits, which
# ctypes has no type for).
_MODE_SIZES = {"QI": 1, "HI": 2, "SI": 4, "DI": 8, "TI": 16, "byte": 1,
               "word": _ft.sizeof(_ft.c_void_p), "pointer": _ft.sizeof(_ft.c_void_p)}


def _scalar_table():
    c = _ft
    table = {
        ("char",): c.c_char, ("char", "signed"): c.c_byte, ("char", "unsigned"): c.c_ubyte,
        ("short",): c.c_short, ("unsigned", "short"): c.c_ushort,
        ("int",): c.c_int, ("unsigned",): c.c_uint,
        ("long",): c.c_long, ("long", "unsigned"): c.c_ulong,
        ("long", "long"): c.c_longlong, ("long", "long", "unsigned"): c.c_ulonglong,
        ("float",): c.c_float, ("double",): c.c_double, ("double", "long"): c.c_longdouble,
        ("_Bool",): c.c_bool, ("bool",): c.c_bool,
        # Names mapped directly rather than through their typedef chains.
        ("size_t",): c.c_size_t, ("ssize_t",): c.c_ssize_t, ("wchar_t",): c.c_wchar,
        ("ptrdiff_t",): c.c_ssize_t, ("intptr_t",): c.c_ssize_t, ("uintptr_t",): c.c_size_t,
        ("int8_t",): c.c_int8, ("int16_t",): c.c_int16, ("int32_t",): c.c_int32,
        ("int64_t",): c.c_int64, ("uint8_t",): c.c_uint8, ("uint16_t",): c.c_uint16,
        ("uint32_t",): c.c_uint32, ("uint64_t",): c.c_uint64,
        ("va_list",): _VA_LIST, ("__builtin_va_list",): _VA_LIST,
        ("__gnuc_va_list",): _VA_LIST,
    }
    return {tuple(sorted(k)): v for k, v in table.items()}


def _normalize(names):
    names = [n for n in names if n not in ("signed",) or len(names) == 1 or "char" in names]
    if names == ["signed"]:
        names = ["int"]
    if "int" in names and len(names) > 1:
        names = [n for n in names if n != "int"]
    return tuple(sorted(names))


def _enum_base(values):
    lo, hi = min(values, default=0), max(values, default=0)
    if lo >= 0:
        if hi <= 0xFFFFFFFF:
            return _ft.c_uint
        return _ft.c_ulong
    if lo >= -2**31 and hi < 2**31:
        return _ft.c_int
    return _ft.c_long


class _Builder:
    """Walks pycparser's AST in source order and builds ferrotypes objects."""

    def __init__(self, layout_attributes=None):
        self.scalars = _scalar_table()
        # packed/aligned attributes by declaration position (`_layout_attributes`)
        self.layout_attributes = layout_attributes or {}
        self.typedefs = {}      # name -> type, _VOID or _FuncType
        self.tags = {}          # ("struct"|"union"|"enum", name) -> type
        self.defined = set()    # ids of Structure/Union classes given their _fields_
        self.constants = {}     # name -> int
        self.functions = {}     # name -> Signature
        self.variables = {}     # name -> type
        self.skipped = []       # (name, reason)
        self.events = []        # source-order record, for code generation
        self.funcptrs = {}      # CFUNCTYPE class -> _FuncType (for code generation)
        self.pack = None
        self.pack_stack = []
        self._anon = 0

    # -- the declarations -------------------------------------------------
    def run(self, ast):
        for node in ast.ext:
            try:
                self.external(node)
            except _Unsupported as exc:
                name = getattr(node, "name", None) or _tag_name(node)
                self.skipped.append((name, str(exc)))
                self.events.append(("skipped", name, str(exc)))

    def external(self, node):
        if isinstance(node, c_ast.Pragma):
            self.pragma(node)
        elif isinstance(node, c_ast.Typedef):
            t = self.resolve(node.type)
            t = self._with_mode(t, node)
            if isinstance(t, type) and t.__name__.startswith("_anon_") and issubclass(
                    t, (_ft.Structure, _ft.Union)):
                t.__name__ = t.__qualname__ = node.name  # typedef struct {...} name;
            self.typedefs[node.name] = t
            self.events.append(("typedef", node.name, t))
        elif isinstance(node, c_ast.Decl):
            if isinstance(node.type, c_ast.FuncDecl):
                f = self.resolve(node.type)
                self.functions[node.name] = Signature(node.name, f.restype, f.argtypes,
                                                      f.variadic)
                self.events.append(("function", node.name))
            elif node.name is None:
                self.resolve(node.type)  # struct/union/enum definition or declaration
            else:
                if "typedef" in node.storage:
                    return
                t = self.resolve(node.type)
                if t is not _VOID and not isinstance(t, _FuncType):
                    self.variables[node.name] = t
        elif isinstance(node, c_ast.FuncDef):
            decl = node.decl
            f = self.resolve(decl.type)
            if not isinstance(f, _FuncType):
                # pycparser takes `name { ... }` for a function definition of implicit int
                raise self._error(decl, "%r is defined with a body but is not a function"
                                  % decl.name)
            # A definition in a header is static inline: there is no symbol to bind.
            if "static" not in decl.storage and "inline" not in decl.funcspec:
                self.functions[decl.name] = Signature(decl.name, f.restype, f.argtypes,
                                                      f.variadic)
                self.events.append(("function", decl.name))

    def pragma(self, node):
        m = re.match(r"\s*pack\s*\((.*)\)\s*$", node.string)
        if not m:
            return
        args = [a.strip() for a in m.group(1).split(",") if a.strip()]

        def value(text):
            # GCC: pack(n) with n a small power of two (0 or nothing: the default).
            try:
                n = int(text, 0)
            except ValueError:
                n = -1
            if n not in (0, 1, 2, 4, 8, 16):
                raise self._error(node, "invalid #pragma pack argument %r" % text)
            return n or None

        if not args:
            self.pack = None
        elif args[0] == "push":
            self.pack_stack.append(self.pack)
            if len(args) > 1:
                self.pack = value(args[-1])
        elif args[0] == "pop":
            self.pack = self.pack_stack.pop() if self.pack_stack else None
        else:
            self.pack = value(args[0])

    # -- types -------------------------------------------------------------
    def resolve(self, node):
        if isinstance(node, (c_ast.TypeDecl, c_ast.Typename)):
            return self.resolve(node.type)
        if isinstance(node, c_ast.IdentifierType):
            return self.identifier(node)
        if isinstance(node, c_ast.PtrDecl):
            return self.pointer_to(self.resolve(node.type))
        if isinstance(node, c_ast.ArrayDecl):
            item = self.resolve(node.type)
            if item is _VOID or isinstance(item, _FuncType):
                raise _Unsupported("array of %r" % item)
            n = 0 if node.dim is None else self.int_eval(node.dim, "array size")
            if n < 0:
                raise self._error(node, "size of array is negative (%d)" % n)
            try:
                return item * n
            except (OverflowError, MemoryError):
                raise self._error(node, "size of array is too large (%d)" % n) from None
        if isinstance(node, c_ast.FuncDecl):
            return self.function_type(node)
        if isinstance(node, (c_ast.Struct, c_ast.Union)):
            return self.record(node)
        if isinstance(node, c_ast.Enum):
            return self.enum(node)
        raise _Unsupported("unsupported declaration %s" % type(node).__name__)

    def identifier(self, node):
        names = node.names
        if len(names) == 1 and names[0] in self.typedefs and (names[0],) not in self.scalars:
            return self.typedefs[names[0]]
        if names == ["void"]:
            return _VOID
        key = _normalize(names)
        if key in self.scalars:
            return self.scalars[key]
        if len(names) == 1 and names[0] in self.typedefs:
            return self.typedefs[names[0]]
        if "_Complex" in names or "__complex__" in names:
            real = [n for n in names if n not in ("_Complex", "__complex__")] or ["double"]
            name = {("float",): "c_float_complex", ("double",): "c_double_complex",
                    ("double", "long"): "c_longdouble_complex"}.get(tuple(sorted(real)))
            complex_type = getattr(_ft, name, None) if name else None
            if complex_type is None:
                raise _Unsupported("unsupported type %r: no complex ctypes type for it here"
                                   % " ".join(names))
            return complex_type
        if "__int128" in names or "__int128_t" in names or "__uint128_t" in names:
            raise _Unsupported("unsupported type %r: ctypes has no 128-bit integer type"
                               % " ".join(names))
        raise _Unsupported("unsupported type %r" % " ".join(names))

    def pointer_to(self, target):
        if target is _VOID:
            return _ft.c_void_p
        if target is _ft.c_char:
            return _ft.c_char_p
        if target is _ft.c_wchar:
            return _ft.c_wchar_p
        if isinstance(target, _FuncType):
            proto = _ft.CFUNCTYPE(target.restype, *target.argtypes,
                                  *([_ft.VARIADIC] if target.variadic else []))
            self.funcptrs.setdefault(proto, target)
            return proto
        return _ft.POINTER(target)

    def param_type(self, node):
        if isinstance(node, c_ast.ID):  # K&R: an untyped parameter name is an int
            return _ft.c_int
        t = node.type
        if isinstance(t, c_ast.ArrayDecl):  # arrays decay to pointers
            return self.pointer_to(self.resolve(t.type))
        r = self.resolve(t)
        if r is _VA_LIST:
            return _ft.c_void_p  # an array type: the parameter is a pointer
        if isinstance(r, _FuncType):
            return self.pointer_to(r)
        if r is _ft.POINTER(_ft.c_ubyte) or r is _ft.POINTER(_ft.c_byte):
            # A byte buffer parameter (unsigned char *, uint8_t *): c_char_p, so bytes
            # and create_string_buffer() pass as they do for char *.
            return _ft.c_char_p
        return r

    def function_type(self, node):
        restype = self.resolve(node.type)
        if isinstance(restype, _FuncType):
            raise _Unsupported("function returning a function")
        argtypes, variadic = [], False
        params = node.args.params if node.args is not None else []
        for p in params:
            if isinstance(p, c_ast.EllipsisParam):
                variadic = True
                continue
            t = self.param_type(p)
            if t is _VOID:
                if len(params) == 1:
                    break  # f(void)
                raise _Unsupported("void parameter")
            argtypes.append(t)
        return _FuncType(None if restype is _VOID else restype, tuple(argtypes), variadic)

    def _new_anon(self, kind):
        self._anon += 1
        return "_anon_%s_%d" % (kind, self._anon)

    def record(self, node):
        kind = "struct" if isinstance(node, c_ast.Struct) else "union"
        base = _ft.Structure if kind == "struct" else _ft.Union
        if node.name is not None:
            cls = self.tags.get((kind, node.name))
            if cls is None:
                cls = type(node.name, (base,), {"__module__": "ferrotypes._cdef"})
                self.tags[(kind, node.name)] = cls
                self.events.append(("record", kind, node.name, cls))
        else:
            cls = type(self._new_anon(kind), (base,), {"__module__": "ferrotypes._cdef"})
            self.events.append(("record", kind, None, cls))
        if node.decls is not None:
            if id(cls) in self.defined:
                file, line, col = _where(node)
                raise CDefError("redefinition of '%s %s'" % (kind, node.name), file, line, col)
            self.define_fields(cls, node.decls, node, self._attributes_of(node))
        return cls

    def _with_mode(self, t, node):
        """``t`` resized by a ``mode`` attribute on the typedef ``node`` (signedness kept)."""
        mode = self._attributes_of(node.type.type if isinstance(node.type, c_ast.TypeDecl)
                                   else node).get("mode")
        if mode is None:
            mode = self._attributes_of(node).get("mode")
        if mode is None:
            return t
        size = _MODE_SIZES.get(mode)
        code = getattr(t, "_type_", None)
        if size is None or not isinstance(code, str) or code not in "bBhHiIlLqQ":
            raise _Unsupported("mode(%s) on %r: not an integer mode cdef knows" % (mode, node.name))
        if size == 16:
            raise _Unsupported("mode(TI) on %r: ctypes has no 128-bit integer type" % node.name)
        signed = code.islower()
        for candidate in ((_ft.c_byte, _ft.c_short, _ft.c_int, _ft.c_long, _ft.c_longlong) if signed
                          else (_ft.c_ubyte, _ft.c_ushort, _ft.c_uint, _ft.c_ulong, _ft.c_ulonglong)):
            if _ft.sizeof(candidate) == size:
                return candidate
        raise _Unsupported("mode(%s) on %r: no integer type of %d bytes" % (mode, node.name, size))

    def _attributes_of(self, node):
        c = node.coord
        return self.layout_attributes.get((c.file, c.line, c.column), {}) if c is not None else {}

    def define_fields(self, cls, decls, node, attributes=None):
        attributes = attributes or {}
        is_struct = issubclass(cls, _ft.Structure)
        pack = self.pack
        if attributes.get("packed"):
            pack = 1  # GCC's packed: every member at alignment 1, as #pragma pack(1)
        align = self._aligned_value(attributes, "the structure")
        fields, anonymous, padding = [], [], []
        for d in decls:
            if isinstance(d, c_ast.Pragma):
                continue
            t = self.resolve(d.type)
            if t is _VOID or isinstance(t, _FuncType):
                raise _Unsupported("field %r has no object type" % d.name)
            name = d.name
            if name is None:
                if d.bitsize is not None:  # unnamed bit field: padding
                    name = "_pad_%d" % len(fields)
                    padding.append(name)
                else:  # anonymous struct/union member
                    name = "_anon_%d" % len(fields)
                    anonymous.append(name)
            member = self._attributes_of(d)
            if member.get("packed") and pack != 1:
                raise _Unsupported("member %r is packed in a structure that is not: ctypes has "
                                   "no per-member packing" % name)
            member_align = self._aligned_value(member, "member %r" % name)
            if d.bitsize is not None:
                bits = self.int_eval(d.bitsize, "bit-field width")
                if bits == 0:
                    # A zero-width bit field ends the storage unit: the next member starts
                    # at the next boundary of its type (ctypes itself refuses width 0).
                    if is_struct and fields:
                        unit = _ft.alignment(t) if pack is None else min(pack, _ft.alignment(t))
                        padding += self._pad_to(fields, pack, unit)
                    continue
                fields.append((name, t, bits))
            else:
                if member_align:
                    if is_struct:
                        natural = _ft.alignment(t) if pack is None else min(pack, _ft.alignment(t))
                        padding += self._pad_to(fields, pack, max(member_align, natural))
                    align = max(align or 1, member_align)
                fields.append((name, t))
        if pack is not None:
            cls._pack_ = pack
        if align:
            cls._align_ = align
        if anonymous:
            cls._anonymous_ = anonymous
        if padding:
            # Members C does not name (unnamed bit fields, padding cdef adds): verify() and
            # the code generator know them by this list.
            cls._cdef_padding_ = tuple(padding)
        try:
            cls._fields_ = fields
        except (TypeError, ValueError, AttributeError, OverflowError) as exc:
            # What ctypes refuses (a bit field too wide or of a non-integer type, a
            # structure that contains itself, one too large): said where it was declared.
            raise self._error(node, "%s %s: %s" % (
                "union" if isinstance(node, c_ast.Union) else "struct",
                node.name or "<anonymous>", exc)) from None
        self.defined.add(id(cls))
        self.events.append(("fields", cls, fields, anonymous, pack, align, tuple(padding)))

    @staticmethod
    def _aligned_value(attributes, what):
        if "aligned" not in attributes:
            return None
        if attributes["aligned"] is None:
            raise _Unsupported("the aligned attribute of %s has a value cdef cannot evaluate"
                               % what)
        return attributes["aligned"]

    @staticmethod
    def _pad_to(fields, pack, boundary):
        """Appends padding bytes to ``fields`` so the next member starts at a multiple of
        ``boundary`` (where a byte placed next would go is measured on a scratch class);
        returns the names added."""
        if not fields:
            return []
        probe = "_ferrotypes_probe"
        try:
            scratch = type("_scratch", (_ft.Structure,),
                           dict({"_pack_": pack} if pack is not None else {},
                                _fields_=fields + [(probe, _ft.c_ubyte)]))
        except (TypeError, ValueError, AttributeError, OverflowError):
            return []  # the fields themselves are refused: define_fields reports it
        end = getattr(scratch, probe).offset
        gap = -end % boundary
        if not gap:
            return []
        name = "_pad_%d" % len(fields)
        fields.append((name, _ft.c_ubyte * gap))
        return [name]

    def enum(self, node):
        cls = self.tags.get(("enum", node.name)) if node.name else None
        if node.values is None:
            if cls is None:
                cls = _ft.c_uint  # incomplete enum: GCC's default
            return cls
        value, values = -1, []
        names = []
        for e in node.values.enumerators:
            value = (self.int_eval(e.value, "enumerator value") if e.value is not None
                     else value + 1)
            self.constants[e.name] = value
            values.append(value)
            names.append((e.name, value))
        cls = _enum_base(values)
        if node.name:
            self.tags[("enum", node.name)] = cls
        self.events.append(("enum", node.name, cls, names))
        return cls

    # -- constant expressions ---------------------------------------------
    def int_eval(self, node, what):
        """An integer constant expression (array size, bit-field width, enumerator)."""
        v = self.const_eval(node)
        if not isinstance(v, int):
            raise self._error(node, "%s is not an integer constant" % what)
        return v

    def const_eval(self, node):
        try:
            return self._const_eval(node)
        except RecursionError:
            raise self._error(node, "constant expression nested too deeply") from None

    def _const_eval(self, node):
        if isinstance(node, c_ast.Constant):
            try:
                v = _constant(node)
            except (ValueError, TypeError, IndexError):
                raise self._error(node, "invalid constant %s" % node.value) from None
            if isinstance(v, str):
                raise self._error(node, "a string literal is not a constant expression")
            return v
        if isinstance(node, c_ast.ID):
            if node.name in self.constants:
                return self.constants[node.name]
            raise self._error(node, "%r is not a constant" % node.name)
        if isinstance(node, c_ast.UnaryOp):
            if node.op in ("sizeof", "_Alignof", "alignof", "__alignof__"):
                t = self.resolve(node.expr) if isinstance(node.expr, c_ast.Typename) else None
                if t is None or t is _VOID or isinstance(t, _FuncType):
                    raise self._error(node, "unsupported %s operand" % node.op)
                return _ft.sizeof(t) if node.op == "sizeof" else _ft.alignment(t)
            v = self._const_eval(node.expr)
            if node.op == "~" and not isinstance(v, int):
                raise self._error(node, "invalid operand to unary ~")
            if node.op not in ("-", "+", "~", "!"):
                raise self._error(node, "unsupported %s operand" % node.op)
            return {"-": lambda: -v, "+": lambda: v, "~": lambda: ~v,
                    "!": lambda: int(not v)}[node.op]()
        if isinstance(node, c_ast.BinaryOp):
            a, b = self._const_eval(node.left), self._const_eval(node.right)
            op = node.op
            if op in ("%", "<<", ">>", "&", "|", "^") and not (
                    isinstance(a, int) and isinstance(b, int)):
                raise self._error(node, "invalid operands to binary %s" % op)
            if op in ("<<", ">>") and not 0 <= b < 128:
                # C leaves these undefined; Python would allocate 2**b bits for 1 << b.
                raise self._error(node, "shift count out of range (%d)" % b)
            if op not in _BINOPS:
                raise self._error(node, "unsupported operator %s" % op)
            if op in ("/", "%"):
                if b == 0:
                    raise self._error(node, "division by zero")
                if isinstance(a, int) and isinstance(b, int):
                    q = abs(a) // abs(b) * (1 if (a < 0) == (b < 0) else -1)
                    return q if op == "/" else a - b * q
            return _binop(op, a, b)
        if isinstance(node, c_ast.TernaryOp):
            c = self._const_eval(node.cond)
            return self._const_eval(node.iftrue if c else node.iffalse)
        if isinstance(node, c_ast.Cast):
            v = self._const_eval(node.expr)
            t = self.resolve(node.to_type)
            if isinstance(t, type) and issubclass(t, _ft._SimpleCData) and isinstance(v, int):
                return t(v).value if t._type_ in "bBhHiIlLqQ" else v
            return v
        raise self._error(node, "not a constant expression")

    def _error(self, node, message):
        return CDefError(message, *_where(node))


def _tag_name(node):
    t = getattr(node, "type", None)
    if isinstance(t, (c_ast.Struct, c_ast.Union, c_ast.Enum)) and t.name:
        return "%s %s" % (type(t).__name__.lower(), t.name)
    return "<declaration>"


_BINOPS = ("+", "-", "*", "/", "%", "<<", ">>", "&", "|", "^", "&&", "||", "==", "!=", "<",
           ">", "<=", ">=")


def _binop(op, a, b):
    ops = {
        "+": lambda: a + b, "-": lambda: a - b, "*": lambda: a * b, "/": lambda: a / b, "<<": lambda: a << b,
        ">>": lambda: a >> b, "&": lambda: a & b, "|": lambda: a | b, "^": lambda: a ^ b,
        "&&": lambda: int(bool(a) and bool(b)), "||": lambda: int(bool(a) or bool(b)),
        "==": lambda: int(a == b), "!=": lambda: int(a != b), "<": lambda: int(a < b),
        ">": lambda: int(a > b), "<=": lambda: int(a <= b), ">=": lambda: int(a >= b),
    }
    return ops[op]()


_ESCAPES = {"n": 10, "t": 9, "r": 13, "0": 0, "\\": 92, "'": 39, '"': 34, "a": 7, "b": 8,
            "f": 12, "v": 11, "?": 63}


def _constant(node):
    v = node.value
    if node.type == "char":
        body = v[v.index("'") + 1:-1]
        if body.startswith("\\"):
            rest = body[1:]
            if rest[0] in "xX":
                return int(rest[1:], 16)
            if rest[0].isdigit():
                return int(rest, 8)
            return _ESCAPES.get(rest[0], ord(rest[0]))
        return ord(body)
    if node.type in ("float", "double", "long double"):
        return float(v.rstrip("fFlL"))
    if node.type == "string":
        return v
    digits = v.rstrip("uUlL")
    if re.fullmatch(r"0[0-7]+", digits):
        return int(digits, 8)
    return int(digits, 0)


# ---------------------------------------------------------------------------
# The namespace

_KEYWORDS = {"struct", "union", "enum"}


class CDefNamespace:
    """The result of :func:`cdef`: C names as attributes.

    * typedef names, functions, enumerators, ``#define`` constants and variables under
      their C names;
    * ``struct X``/``union X`` as ``X`` when no other declaration is named ``X``, and
      always through :meth:`struct`/:meth:`union` (``ns.struct("stat")`` when the
      function ``stat`` takes the plain name); enum types through :meth:`enum`;
    * with a library, functions with ``argtypes``/``restype`` set; functions it lacks are
      listed in ``_missing_``. Without a library, a function's name gives its
      ``CFUNCTYPE`` prototype (with the variadic marker for ``...``).
    """

    def __init__(self, builder, lib, macros):
        names = {}
        self._tags = dict(builder.tags)
        self._signatures_ = dict(builder.functions)
        self._skipped_ = list(builder.skipped)
        self._missing_ = []
        self._lib_ = lib
        self._builder = builder
        for name, value in macros.items():
            names[name] = value
        names.update(builder.constants)
        names.update({k: v for k, v in builder.typedefs.items()
                      if v is not _VOID and not isinstance(v, _FuncType)})
        for name, t in builder.variables.items():
            if lib is not None:
                try:
                    names[name] = t.in_dll(lib, name)
                except (ValueError, AttributeError, TypeError):
                    pass
        for name, sig in self._signatures_.items():
            if lib is None:
                names[name] = sig.prototype()
                continue
            try:
                func = lib[name]
            except AttributeError:
                self._missing_.append(name)
                names.pop(name, None)
                continue
            func.argtypes = sig.ctypes_argtypes()
            func.restype = sig.restype
            names[name] = func
        for (kind, tag), t in builder.tags.items():
            if kind != "enum" and tag not in names:
                names[tag] = t
        self._names_ = names

    def __getattr__(self, name):
        try:
            return self.__dict__["_names_"][name]
        except KeyError:
            raise AttributeError("no C declaration named %r" % name) from None

    def __dir__(self):
        return sorted(set(self._names_) | {"struct", "union", "enum"})

    def __contains__(self, name):
        return name in self._names_

    def _tag(self, kind, name):
        try:
            return self._tags[(kind, name)]
        except KeyError:
            raise KeyError("no %s %s declared" % (kind, name)) from None

    def struct(self, name):
        """The ``Structure`` subclass for ``struct name``."""
        return self._tag("struct", name)

    def union(self, name):
        """The ``Union`` subclass for ``union name``."""
        return self._tag("union", name)

    def enum(self, name):
        """The integer type of ``enum name``."""
        return self._tag("enum", name)

    def __repr__(self):
        return "<CDefNamespace: %d names, %d functions%s>" % (
            len(self._names_), len(self._signatures_),
            ", %d missing" % len(self._missing_) if self._missing_ else "")


def _load(lib):
    if lib is None or not isinstance(lib, (str, os.PathLike)):
        return lib
    lib = os.fspath(lib)
    if "/" in lib or ".so" in lib or lib.endswith(".dylib") or lib.endswith(".dll"):
        return _ft.CDLL(lib)
    from ferrotypes.util import find_library
    path = find_library(lib)
    if path is None:
        raise OSError("library %r not found" % lib)
    return _ft.CDLL(path)


def _needs_cpp(source):
    return re.search(r"^\s*#\s*(include|define|if|ifdef|ifndef)\b", source, re.M) is not None


def parse(source, filename="<cdef>", *, include_dirs=(), defines=(), preprocess=None,
          cc=None):
    """Parse C declarations; returns the builder (types, functions, constants) and the
    ``#define`` constants. Used by :func:`cdef` and the code generator."""
    if preprocess is None:
        preprocess = _needs_cpp(source)
    macros = {}
    if preprocess:
        text = globals()["preprocess"](source, filename, include_dirs=include_dirs,
                                       defines=defines, cc=cc)
        macros = _macros(source, filename, include_dirs, defines, cc)
    else:
        text = '# 1 "%s"\n%s' % (filename, source)
    attributes = _layout_attributes(text)
    text = '# 1 "%s"\n%s%s' % (_BUILTIN_FILE, _BUILTIN_TYPEDEFS, clean_gnu_extensions(text))
    ast = _parse(text, filename)
    builder = _Builder(attributes)
    # The built-in typedefs are scalars already in the table: nothing to record.
    ast.ext = [n for n in ast.ext
               if not (n.coord is not None and n.coord.file == _BUILTIN_FILE)]
    try:
        builder.run(ast)
    except RecursionError:
        raise CDefError("declarations nested too deeply", filename) from None
    return builder, macros


def cdef(source, lib=None, *, include_dirs=(), defines=(), preprocess=None, cc=None,
         filename="<cdef>"):
    """Build ferrotypes declarations from C source.

    ``source``: C declarations. ``lib``: a loaded library (``CDLL``), or a library name
    (``"z"``, found with ``ferrotypes.util.find_library``) or path, to bind the declared
    functions from. ``preprocess``: run the system C preprocessor (``cc -E``) first;
    by default only when the source has ``#include``/``#define``/``#if`` lines.
    ``include_dirs``/``defines``: ``-I``/``-D`` for it (``"NAME=VALUE"`` or
    ``(name, value)``). Returns a :class:`CDefNamespace`; raises :class:`CDefError` with
    file, line and column on a parse error.
    """
    builder, macros = parse(source, filename, include_dirs=include_dirs, defines=defines,
                            preprocess=preprocess, cc=cc)
    return CDefNamespace(builder, _load(lib), macros)


PYCPARSER_VERSION = pycparser.__version__


# ---------------------------------------------------------------------------
# Code generation: `python -m ferrotypes cdef HEADER...`

_SIMPLE_NAMES = ["c_bool", "c_char", "c_wchar", "c_byte", "c_ubyte", "c_short", "c_ushort",
                 "c_int", "c_uint", "c_long", "c_ulong", "c_longlong", "c_ulonglong",
                 "c_float", "c_double", "c_longdouble", "c_char_p", "c_wchar_p", "c_void_p"]


def generate_module(builder, macros, library=None, command=""):
    """The source of a Python module declaring everything ``builder`` built: records in
    source order (declared before use, ``_fields_`` set at their C definition, so
    self-referential structures work), typedefs, enum and ``#define`` constants, and the
    functions, bound from ``library`` on first access."""
    import keyword
    simple = {getattr(_ft, n): "ctypes." + n for n in _SIMPLE_NAMES}
    names = {}
    used = set()

    def pyname(n):
        # GNU C allows '$' in identifiers, Python does not: '$' becomes '_x24_'.
        if not n.isidentifier():
            n = re.sub(r"[^0-9A-Za-z_]", lambda m: "_x%02x_" % ord(m.group()), n)
        return n + "_" if keyword.iskeyword(n) or n in ("ctypes", "_library") else n

    for (kind, tag), cls in builder.tags.items():
        if kind == "enum":
            continue
        clash = (tag in builder.functions or tag in builder.constants
                 or (tag in builder.typedefs and builder.typedefs[tag] is not cls)
                 or tag in used)
        names[cls] = pyname("%s_%s" % (kind, tag) if clash else tag)
        used.add(tag)

    def r(t):
        if t is None:
            return "None"
        if t is _VA_LIST:
            return _VA_LIST_SPELLING
        if t in simple:
            return simple[t]
        if t in names:
            return names[t]
        if t in builder.funcptrs:
            f = builder.funcptrs[t]
            return "ctypes.CFUNCTYPE(%s)" % ", ".join(
                [r(f.restype)] + [r(a) for a in f.argtypes] + (["ctypes.VARIADIC"] if f.variadic else []))
        if issubclass(t, _ft._Pointer):
            return "ctypes.POINTER(%s)" % r(t._type_)
        if issubclass(t, _ft.Array):
            return "(%s * %d)" % (r(t._type_), t._length_)
        if issubclass(t, (_ft.Structure, _ft.Union)):
            names[t] = pyname(t.__name__)
            return names[t]
        raise _Unsupported("cannot spell %r" % t)

    out = ['"""ferrotypes declarations generated from C headers.', "",
           "    %s" % command if command else "", '"""', "",
           "import ferrotypes as ctypes", "import ferrotypes.util", ""]
    emitted = set()
    for ev in builder.events:
        kind = ev[0]
        if kind == "record":
            cls = ev[3]
            base = "ctypes.Structure" if issubclass(cls, _ft.Structure) else "ctypes.Union"
            out += ["", "class %s(%s):" % (r(cls), base), "    pass", ""]
        elif kind == "fields":
            cls, fields, anonymous, pack, align, padding = ev[1:]
            var = r(cls)
            if pack is not None:
                out.append("%s._pack_ = %d" % (var, pack))
            if align:
                out.append("%s._align_ = %d" % (var, align))
            if anonymous:
                out.append("%s._anonymous_ = %r" % (var, anonymous))
            if padding:
                out.append("%s._cdef_padding_ = %r" % (var, padding))
            items = ["    (%r, %s%s)," % (f[0], r(f[1]), ", %d" % f[2] if len(f) > 2 else "")
                     for f in fields]
            out += ["%s._fields_ = [" % var] + items + ["]"]
        elif kind == "typedef":
            name, t = ev[1], ev[2]
            if t is _VOID or isinstance(t, _FuncType) or name in emitted:
                continue
            try:
                spelled = r(t)
            except _Unsupported:
                continue
            if spelled != pyname(name):
                out.append("%s = %s" % (pyname(name), spelled))
                emitted.add(name)
        elif kind == "enum":
            tag, base, values = ev[1:]
            if tag:
                out.append("%s = %s" % (pyname("enum_" + tag), r(base)))
            out += ["%s = %d" % (pyname(n), v) for n, v in values]
            emitted.update(n for n, _ in values)
        elif kind == "skipped":
            out.append("# skipped %s: %s" % (ev[1], ev[2]))
    consts = [(n, v) for n, v in sorted(macros.items())
              if n not in emitted and n not in builder.functions and n not in builder.typedefs
              and n not in used]
    if consts:
        out += ["", "# #define constants"] + ["%s = %r" % (pyname(n), v) for n, v in consts]
    out += ["", "", "# Functions: bound from the library on first use (a symbol the library lacks",
            "# raises AttributeError then, not at import).",
            "_library = %s" % ("None" if library is None else repr(library)),
            "_functions = {"]
    for name, sig in builder.functions.items():
        try:
            args = [r(a) for a in sig.argtypes] + (["ctypes.VARIADIC"] if sig.variadic else [])
            out.append("    %r: (%s, [%s])," % (name, r(sig.restype), ", ".join(args)))
        except _Unsupported:
            continue
    out += ["}", "", "",
            "def load(library):",
            '    """Bind the functions from ``library`` (a CDLL, a path or a name for',
            '    find_library) from now on."""',
            "    global _library",
            "    for name in _functions:",
            "        globals().pop(name, None)",
            "    _library = library",
            "",
            "",
            "def _dll():",
            "    global _library",
            "    if _library is None:",
            '        raise AttributeError("no library: call load(library) first")',
            "    if isinstance(_library, str):",
            '        path = _library if "/" in _library or ".so" in _library else (',
            "            ferrotypes.util.find_library(_library) or _library)",
            "        _library = ctypes.CDLL(path)",
            "    return _library",
            "",
            "",
            "def __getattr__(name):",
            "    try:",
            "        restype, argtypes = _functions[name]",
            "    except KeyError:",
            '        raise AttributeError("module %r has no attribute %r" % (__name__, name)) '
            "from None",
            "    func = _dll()[name]",
            "    func.restype, func.argtypes = restype, argtypes",
            "    globals()[name] = func",
            "    return func",
            ""]
    return "\n".join(out)
