"""ferrotypes.install() and ``python -m ferrotypes run``.

Every case runs in a fresh interpreter: install() changes process-wide
import state and refuses to run once the standard ctypes is loaded.
"""

import json
import os
import subprocess
import sys
import textwrap

import pytest


def run_python(args, cwd=None, check=False):
    proc = subprocess.run([sys.executable] + args, cwd=cwd,
                          capture_output=True, text=True, timeout=120)
    if check and proc.returncode != 0:
        raise AssertionError("exit %d\nstdout:\n%s\nstderr:\n%s"
                             % (proc.returncode, proc.stdout, proc.stderr))
    return proc


def run_code(code, cwd=None):
    """Run ``code`` in a new interpreter; return its last stdout line as JSON."""
    proc = run_python(["-c", textwrap.dedent(code)], cwd=cwd, check=True)
    return json.loads(proc.stdout.splitlines()[-1])


# Prints where the standard ctypes package and _ctypes extension live,
# found without importing them.
_LOCATE_STDLIB = """
import importlib.machinery, os
_pkg = importlib.machinery.PathFinder.find_spec("ctypes")
STDLIB_CTYPES_DIR = os.path.dirname(_pkg.origin) + os.sep
STDLIB_CTYPES_EXT = importlib.machinery.PathFinder.find_spec("_ctypes").origin
"""


def test_install_replaces_ctypes_everywhere():
    result = run_code(_LOCATE_STDLIB + textwrap.dedent("""
        import json, sys
        import ferrotypes
        before = ferrotypes.installed()
        ferrotypes.install()
        ferrotypes.install()  # idempotent

        import ctypes, _ctypes
        import ctypes.util, ctypes.wintypes, ctypes._endian
        import ctypes.macholib, ctypes.macholib.dyld
        import ctypes.macholib.dylib, ctypes.macholib.framework
        from ctypes import wintypes, util
        from ctypes.util import find_library
        import ferrotypes.util, ferrotypes.wintypes, ferrotypes.macholib.dyld

        # Use the API a little, so lazily imported pieces are loaded too.
        ctypes.CDLL(find_library("c")).strlen
        ctypes.cast(ctypes.create_string_buffer(b"x"), ctypes.c_void_p)

        stdlib_files = sorted(
            name for name, module in list(sys.modules.items())
            if (getattr(module, "__file__", None) or "").startswith(
                STDLIB_CTYPES_DIR)
            or getattr(module, "__file__", None) == STDLIB_CTYPES_EXT)
        finders = [type(f).__name__ for f in sys.meta_path]
        print(json.dumps({
            "before": before,
            "after": ferrotypes.installed(),
            "ctypes": ctypes is ferrotypes,
            "_ctypes": _ctypes is ferrotypes._ctypes,
            "util": ctypes.util is ferrotypes.util and util is ferrotypes.util,
            "util_in_modules": sys.modules["ctypes.util"] is ferrotypes.util,
            "util_spec": ctypes.util.__spec__.name,
            "wintypes": wintypes is ferrotypes.wintypes,
            "endian": ctypes._endian is sys.modules["ferrotypes._endian"],
            "dyld": ctypes.macholib.dyld is ferrotypes.macholib.dyld,
            "finder_count": finders.count("_AliasFinder"),
            "stdlib_loaded": stdlib_files,
        }))
    """))
    assert result == {
        "before": False, "after": True, "ctypes": True, "_ctypes": True,
        "util": True, "util_in_modules": True, "util_spec": "ferrotypes.util",
        "wintypes": True, "endian": True, "dyld": True, "finder_count": 1,
        "stdlib_loaded": [],
    }


def test_stdlib_only_submodules_are_not_found():
    result = run_code("""
        import json, ferrotypes
        ferrotypes.install()
        import importlib.util
        print(json.dumps(importlib.util.find_spec("ctypes._aix")))
    """)
    assert result is None


def test_stdlib_test_package_stays_importable():
    # `python -m test test_ctypes` on 3.11 imports the suite as ctypes.test; after install()
    # it must be the stdlib's test directory, testing ferrotypes. From 3.12 the suite is
    # test.test_ctypes and there is no ctypes.test at all.
    result = run_code("""
        import json, os, sys, sysconfig, ferrotypes
        ferrotypes.install()
        try:
            import ctypes.test.test_sizes as t
            where = os.path.relpath(t.__file__, sysconfig.get_path("stdlib"))
            uses = t.sizeof is sys.modules["ferrotypes._ctypes"].sizeof
        except ModuleNotFoundError as exc:
            where, uses = exc.name, None
        print(json.dumps([where, uses, "_ctypes" in sys.modules and
                          sys.modules["_ctypes"].__name__]))
    """)
    if sys.version_info < (3, 12):
        assert result == [os.path.join("ctypes", "test", "test_sizes.py"), True,
                          "ferrotypes._ctypes"]
    else:
        assert result[0] == "ctypes.test"


@pytest.mark.parametrize("first_import, named", [
    ("import ctypes", "ctypes"),
    ("import _ctypes", "_ctypes"),
])
def test_install_after_stdlib_import_fails(first_import, named):
    result = run_code("""
        import json
        %s
        import ferrotypes
        try:
            ferrotypes.install()
            message = None
        except RuntimeError as exc:
            message = str(exc)
        print(json.dumps([message, ferrotypes.installed()]))
    """ % first_import)
    message, installed = result
    assert message is not None and named in message.split(": ")[-1].split(", ")
    assert installed is False


def test_pickle_and_copy_never_load_the_stdlib_extension():
    # __reduce__ names ferrotypes' own _unpickle; importing "_ctypes" by name in a plain
    # `import ferrotypes` process would load the stdlib extension (and then install()
    # would refuse to run).
    result = run_code(_LOCATE_STDLIB + textwrap.dedent("""
        import copy, json, os, pickle, sys
        import ferrotypes
        value = ferrotypes.c_int(1)
        data = pickle.dumps(value)
        clone = copy.copy(value)
        point = type("P", (ferrotypes.Structure,), {"_fields_": [("x", ferrotypes.c_int)]})
        deep = copy.deepcopy(point(7))
        loaded = pickle.loads(data)
        imported = "_ctypes" in sys.modules
        ferrotypes.install()
        import ctypes
        with open("/proc/self/maps") as maps:
            mapped = [line.split(None, 5)[-1].strip() for line in maps]
        ext = os.path.realpath(STDLIB_CTYPES_EXT)
        print(json.dumps({
            "values": [loaded.value, clone.value, deep.x],
            "loaded_type": type(loaded) is ferrotypes.c_int,
            "imported_before_install": imported,
            "installed": ferrotypes.installed() and ctypes is ferrotypes,
            "stdlib_in_modules": any(
                getattr(m, "__file__", None) and os.path.realpath(m.__file__) == ext
                for m in list(sys.modules.values())),
            "stdlib_mapped": any(os.path.realpath(p) == ext
                                 for p in mapped if p.startswith("/")),
        }))
    """))
    assert result == {
        "values": [1, 1, 7],
        "loaded_type": True,
        "imported_before_install": False,
        "installed": True,
        "stdlib_in_modules": False,
        "stdlib_mapped": False,
    }


def test_mock_patch_by_ctypes_name():
    # The standard ctypes tests patch "ctypes.util._findSoname_ldconfig".
    result = run_code("""
        import json, ferrotypes, unittest.mock
        ferrotypes.install()
        import ctypes.util
        with unittest.mock.patch("ctypes.util._findSoname_ldconfig",
                                 lambda *a: None):
            patched = ferrotypes.util._findSoname_ldconfig("c")
        print(json.dumps(patched))
    """)
    assert result is None


# ---------------------------------------------------------------------------
# python -m ferrotypes

_PROBE = """
import json, os, sys
import ctypes, ctypes.util, _ctypes
print(json.dumps({
    "argv": sys.argv,
    "name": __name__,
    "path0": sys.path[0],
    "ctypes": ctypes.__name__,
    "util": ctypes.util.__name__,
    "_ctypes": _ctypes.__name__,
}))
sys.exit(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
"""


@pytest.fixture
def probe_dir(tmp_path):
    (tmp_path / "probe.py").write_text(_PROBE)
    pkg = tmp_path / "probepkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "__main__.py").write_text(_PROBE)
    (tmp_path / "elsewhere").mkdir()
    return tmp_path


def _report(proc):
    return json.loads(proc.stdout.splitlines()[-1])


def test_run_script_with_args_and_exit_code(probe_dir):
    proc = run_python(["-m", "ferrotypes", "run", "probe.py", "3", "--flag", "-m"],
                      cwd=probe_dir)
    assert proc.returncode == 3, proc.stderr
    assert _report(proc) == {
        "argv": ["probe.py", "3", "--flag", "-m"],
        "name": "__main__",
        "path0": os.path.realpath(str(probe_dir)),
        "ctypes": "ferrotypes",
        "util": "ferrotypes.util",
        "_ctypes": "ferrotypes._ctypes",
    }


def test_run_script_by_absolute_path(probe_dir):
    script = str(probe_dir / "probe.py")
    proc = run_python(["-m", "ferrotypes", "run", script],
                      cwd=probe_dir / "elsewhere")
    assert proc.returncode == 0, proc.stderr
    report = _report(proc)
    assert report["argv"] == [script]
    assert report["path0"] == os.path.realpath(str(probe_dir))


def test_run_script_file_is_absolute_as_with_python(probe_dir):
    # Since 3.9 "python SCRIPT" makes __main__.__file__ (and the code's filename, which
    # warnings and tracebacks show) absolute, so it still names the script after os.chdir.
    (probe_dir / "where.py").write_text(
        "import json, sys; print(json.dumps([__file__, sys._getframe().f_code.co_filename, "
        "sys.argv[0]]))\n")
    stock = run_python(["where.py"], cwd=probe_dir, check=True)
    ferro = run_python(["-m", "ferrotypes", "run", "where.py"], cwd=probe_dir, check=True)
    assert _report(ferro) == _report(stock)
    assert _report(ferro)[0] == str(probe_dir / "where.py")


def test_run_module_with_args_and_exit_code(probe_dir):
    proc = run_python(["-m", "ferrotypes", "run", "-m", "probe", "5", "x"],
                      cwd=probe_dir)
    assert proc.returncode == 5, proc.stderr
    report = _report(proc)
    assert report["argv"] == [str(probe_dir / "probe.py"), "5", "x"]
    assert report["name"] == "__main__"
    assert report["ctypes"] == "ferrotypes"


def test_run_package_module(probe_dir):
    proc = run_python(["-m", "ferrotypes", "run", "-m", "probepkg", "0"],
                      cwd=probe_dir)
    assert proc.returncode == 0, proc.stderr
    assert _report(proc)["argv"] == [
        str(probe_dir / "probepkg" / "__main__.py"), "0"]


def test_uncaught_exception_exits_1(tmp_path):
    (tmp_path / "boom.py").write_text("raise ValueError('boom')\n")
    proc = run_python(["-m", "ferrotypes", "run", "boom.py"], cwd=tmp_path)
    assert proc.returncode == 1
    assert "ValueError: boom" in proc.stderr


def test_missing_targets(tmp_path):
    proc = run_python(["-m", "ferrotypes", "run", "-m", "no_such_module_ft"],
                      cwd=tmp_path)
    assert proc.returncode == 1
    assert "No module named no_such_module_ft" in proc.stderr
    proc = run_python(["-m", "ferrotypes", "run", "no_such_script.py"],
                      cwd=tmp_path)
    assert proc.returncode == 2
    assert "can't open file" in proc.stderr


def test_help_and_usage_errors():
    proc = run_python(["-m", "ferrotypes", "--help"])
    assert proc.returncode == 0
    assert "python -m ferrotypes run SCRIPT" in proc.stdout
    assert "run -m MODULE" in proc.stdout
    for bad in ([], ["frobnicate"], ["run"], ["run", "-m"], ["run", "--what"]):
        proc = run_python(["-m", "ferrotypes"] + bad)
        assert proc.returncode == 2, bad
        assert "usage:" in proc.stderr
