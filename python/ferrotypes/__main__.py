"""Command line: run a program with ferrotypes standing in for ctypes; generate
declarations from C headers; check a layout against the C compiler.

    python -m ferrotypes run SCRIPT [ARGS...]
    python -m ferrotypes run -m MODULE [ARGS...]
    python -m ferrotypes cdef HEADER... [-I DIR] [-D NAME[=VALUE]] [--library NAME] [-o OUT]
    python -m ferrotypes verify MODULE:TYPE --header H --c-name NAME

``ferrotypes.install()`` is called first, then the script or module runs as
``__main__`` with ``sys.argv`` and ``sys.path[0]`` as ``python SCRIPT`` or
``python -m MODULE`` would set them.  Its exit status is the command's.
"""

import builtins
import importlib.machinery
import importlib.util
import io
import os
import runpy
import sys
import types
import zipfile

USAGE = """\
usage: python -m ferrotypes run SCRIPT [ARGS...]
       python -m ferrotypes run -m MODULE [ARGS...]
       python -m ferrotypes cdef HEADER... [-I DIR] [-D NAME[=VALUE]]
                                [--library NAME] [-o OUT.py]
       python -m ferrotypes verify MODULE:TYPE --header H [--header H2]
                                [--c-name NAME] [-I DIR] [-D NAME[=VALUE]]
       python -m ferrotypes --help

Run a Python program with ferrotypes installed as its ctypes: "import
ctypes", "import _ctypes" and the ctypes submodules resolve to ferrotypes.

  run SCRIPT    run a file (or a directory or zip with __main__.py),
                like "python SCRIPT"
  run -m MODULE run a module, like "python -m MODULE"
  -h, --help    show this message

Everything after SCRIPT or MODULE is passed to the program in sys.argv.

  cdef          print (or write to OUT.py) a Python module of ferrotypes
                declarations generated from the headers; --library binds
                its functions (a name for find_library, or a path)
  verify        compare a Structure/Union's layout with the C compiler's;
                exit status 0 if they agree, 1 with the table if not
"""


def _fail(message):
    sys.stderr.write(USAGE)
    sys.stderr.write("\nerror: %s\n" % message)
    return 2


def _run_script(path, args):
    if not os.path.exists(path):
        sys.stderr.write("%s: can't open file %r: [Errno 2] No such file or "
                         "directory\n" % (sys.executable, os.path.abspath(path)))
        return 2
    sys.argv = [path] + args
    if os.path.isfile(path):
        # "python SCRIPT" puts the script's directory (symlinks resolved)
        # in front of sys.path, where "-m ferrotypes" put the cwd.
        if not sys.flags.safe_path and sys.path:
            sys.path[0] = os.path.dirname(os.path.realpath(path))
    elif sys.path and not sys.flags.safe_path:
        # A directory or zip file: runpy puts it on sys.path itself.
        del sys.path[0]
    if os.path.isfile(path) and not path.endswith(".pyc") and not zipfile.is_zipfile(path):
        _exec_source_as_main(path)
    else:
        runpy.run_path(path, run_name="__main__")
    return None


def _exec_source_as_main(path):
    """Run a source file as "python SCRIPT" does: in a new ``__main__`` module whose
    ``__file__`` and code filename are absolute (since 3.9; warnings and tracebacks show it,
    and it still names the script after os.chdir) while ``sys.argv[0]`` stays as typed, which
    runpy.run_path cannot do (it sets argv[0] to the path it is given)."""
    filename = os.path.abspath(path)
    main = types.ModuleType("__main__")
    main.__file__ = filename
    main.__cached__ = None
    main.__loader__ = importlib.machinery.SourceFileLoader("__main__", filename)
    main.__builtins__ = builtins
    with io.open_code(filename) as f:
        code = compile(f.read(), filename, "exec", dont_inherit=True)
    sys.modules["__main__"] = main
    exec(code, main.__dict__)


def _run_module(name, args):
    sys.argv = [name] + args  # argv[0] becomes the module's file below
    try:
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.submodule_search_locations is not None:
            if importlib.util.find_spec(name + ".__main__") is None:
                return ("%s: No module named %s.__main__; '%s' is a package "
                        "and cannot be directly executed"
                        % (sys.executable, name, name))
    except (ImportError, ValueError) as exc:
        return "%s: Error while finding module specification for %r (%s: %s)" % (
            sys.executable, name, type(exc).__name__, exc)
    if spec is None:
        return "%s: No module named %s" % (sys.executable, name)
    runpy.run_module(name, run_name="__main__", alter_sys=True)
    return None


def _header_parser(prog):
    import argparse
    p = argparse.ArgumentParser(prog="python -m ferrotypes " + prog)
    p.add_argument("-I", dest="include_dirs", action="append", default=[], metavar="DIR")
    p.add_argument("-D", dest="defines", action="append", default=[], metavar="NAME[=VALUE]")
    p.add_argument("--cc", default=None, help="the C compiler (default: $CC or cc)")
    return p


def _include_line(header):
    if header.startswith(("<", '"')):
        return "#include %s" % header
    if os.path.exists(header):
        return '#include "%s"' % os.path.abspath(header)
    return "#include <%s>" % header


def _cdef_command(args):
    p = _header_parser("cdef")
    p.add_argument("headers", nargs="+", metavar="HEADER")
    p.add_argument("--library", "-l", default=None,
                   help="bind functions from this library (find_library name or path)")
    p.add_argument("-o", dest="output", default=None, help="write the module here")
    opts = p.parse_args(args)
    from . import _cdef
    source = "\n".join(_include_line(h) for h in opts.headers) + "\n"
    try:
        builder, macros = _cdef.parse(source, "<command line>", include_dirs=opts.include_dirs,
                                      defines=opts.defines, preprocess=True, cc=opts.cc)
    except _cdef.CDefError as exc:
        return "ferrotypes cdef: %s" % exc
    command = "python -m ferrotypes cdef " + " ".join(args)
    text = _cdef.generate_module(builder, macros, opts.library, command)
    if opts.output:
        with open(opts.output, "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return 0


def _verify_command(args):
    p = _header_parser("verify")
    p.add_argument("target", metavar="MODULE:TYPE")
    p.add_argument("--header", dest="headers", action="append", required=True)
    p.add_argument("--c-name", default=None, help="the C type (default: struct TYPE)")
    opts = p.parse_args(args)
    module_name, _, attr = opts.target.partition(":")
    if not attr:
        return "ferrotypes verify: give MODULE:TYPE"
    import importlib
    if "" not in sys.path:
        sys.path.insert(0, "")
    obj = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    from . import _verify
    c_name = opts.c_name or "struct " + obj.__name__
    try:
        report = _verify.verify(obj, c_name, headers=opts.headers,
                                include_dirs=opts.include_dirs, defines=opts.defines,
                                cc=opts.cc)
    except _verify.LayoutMismatch as exc:
        sys.stdout.write(str(exc.report) + "\n")
        return 1
    sys.stdout.write(str(report) + "\n")
    return 0


def main(argv=None):
    """Run the command line ``argv`` (default: ``sys.argv[1:]``).

    Returns what ``sys.exit`` should get: None, a status, or a message.
    """
    if argv is None:
        argv = sys.argv[1:]
    if not argv:
        return _fail("no command given")
    if argv[0] in ("-h", "--help"):
        sys.stdout.write(USAGE)
        return 0
    command, rest = argv[0], argv[1:]
    if command == "cdef":
        return _cdef_command(rest)
    if command == "verify":
        return _verify_command(rest)
    if command != "run":
        return _fail("unknown command %r" % command)
    if not rest:
        return _fail("run needs a SCRIPT or -m MODULE")
    if rest[0] in ("-h", "--help"):
        sys.stdout.write(USAGE)
        return 0
    if rest[0] == "-m" and len(rest) < 2:
        return _fail("-m needs a MODULE")
    if rest[0].startswith("-") and rest[0] != "-m":
        return _fail("unknown option %r" % rest[0])

    from . import install
    try:
        install()
    except RuntimeError as exc:
        return "ferrotypes: %s" % exc

    if rest[0] == "-m":
        return _run_module(rest[1], rest[2:])
    return _run_script(rest[0], rest[1:])


if __name__ == "__main__":
    sys.exit(main())
