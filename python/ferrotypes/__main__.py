"""Command line: run a program with ferrotypes standing in for ctypes.

    python -m ferrotypes run SCRIPT [ARGS...]
    python -m ferrotypes run -m MODULE [ARGS...]

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
       python -m ferrotypes --help

Run a Python program with ferrotypes installed as its ctypes: "import
ctypes", "import _ctypes" and the ctypes submodules resolve to ferrotypes.

  run SCRIPT    run a file (or a directory or zip with __main__.py),
                like "python SCRIPT"
  run -m MODULE run a module, like "python -m MODULE"
  -h, --help    show this message

Everything after SCRIPT or MODULE is passed to the program in sys.argv.
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
