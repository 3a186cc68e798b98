"""Make ``import ctypes`` mean ferrotypes for the rest of the process.

``install()`` puts the ferrotypes modules into ``sys.modules`` under the
standard library's names and adds a meta path finder for the rest, so that
no module of the standard ``ctypes`` package, nor its ``_ctypes`` extension,
is ever loaded afterwards:

=====================  =========================
``ctypes``             ``ferrotypes``
``ctypes.X[.Y]``       ``ferrotypes.X[.Y]``
``_ctypes``            ``ferrotypes._ctypes``
=====================  =========================

Two copies of ctypes in one process would each have their own type objects
and pointer cache, so a ``c_int`` from one would be rejected by the other;
that is why ``install()`` refuses to run once the standard one is loaded.
"""

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
import sysconfig

_PACKAGE = __name__.rpartition(".")[0]  # "ferrotypes"
_EXTENSION = _PACKAGE + "._ctypes"


def _is_ours(module):
    if module is sys.modules.get(_EXTENSION):
        return True
    name = getattr(module, "__name__", None)
    return isinstance(name, str) and (
        name == _PACKAGE or name.startswith(_PACKAGE + "."))


def _aliased_name(fullname):
    """Return the ferrotypes module standing in for ``fullname``, or None."""
    if fullname == "ctypes":
        return _PACKAGE
    if fullname == "_ctypes":
        return _EXTENSION
    parent_name, _, child = fullname.rpartition(".")
    if not (parent_name == "ctypes" or parent_name.startswith("ctypes.")):
        return None
    # Follow the parent actually imported: "ctypes.macholib.dyld" maps below
    # whatever "ctypes.macholib" is, and a package someone else registered
    # under a ctypes name (the conformance run loads the standard ctypes
    # tests as "ctypes.test") keeps its own submodules.
    parent = sys.modules.get(parent_name)
    if parent is None or not _is_ours(parent):
        return None
    return parent.__name__ + "." + child


class _AliasLoader(importlib.abc.Loader):
    """Loader whose "module" is an existing ferrotypes module."""

    def __init__(self, target):
        self._target = target
        self._own_spec = None

    def create_module(self, spec):
        module = importlib.import_module(self._target)
        self._own_spec = module.__spec__
        return module

    def exec_module(self, module):
        # The import system stamped the alias spec on the module while
        # initialising it; the module keeps its real identity.
        module.__spec__ = self._own_spec


def _stdlib_test_package_spec():
    """Spec of the stdlib's ``ctypes.test`` package (its tests, up to 3.11), or None.

    The tests are not part of ctypes' API but CPython's own suite: ``python -m test
    test_ctypes`` imports them as ``ctypes.test``, and after install() they must test
    ferrotypes rather than vanish."""
    stdlib_ctypes = os.path.join(sysconfig.get_path("stdlib"), "ctypes")
    return importlib.machinery.PathFinder.find_spec("ctypes.test", [stdlib_ctypes])


class _AliasFinder(importlib.abc.MetaPathFinder):
    """Resolve ``ctypes``, ``ctypes.*`` and ``_ctypes`` to ferrotypes modules."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname == "ctypes.test":
            return _stdlib_test_package_spec()
        target_name = _aliased_name(fullname)
        if target_name is None:
            return None
        module = sys.modules.get(target_name)
        if module is not None:
            is_package = hasattr(module, "__path__")
        else:
            try:
                real_spec = importlib.util.find_spec(target_name)
            except (ImportError, ValueError):
                real_spec = None
            if real_spec is None:
                # Not a ferrotypes module (e.g. "ctypes.test"): let the
                # search fail in ferrotypes' own directory.
                return None
            is_package = real_spec.submodule_search_locations is not None
        return importlib.util.spec_from_loader(
            fullname, _AliasLoader(target_name), is_package=is_package)


def _conflicting_modules():
    """Names of standard-library ctypes modules already in ``sys.modules``."""
    clashes = []
    for name, module in list(sys.modules.items()):
        if name == "_ctypes" or name == "ctypes" or name.startswith("ctypes."):
            if module is not None and not _is_ours(module):
                clashes.append(name)
    return sorted(clashes)


def installed():
    """Return True if ``install()`` has taken effect in this process."""
    package = sys.modules.get(_PACKAGE)
    return (package is not None and sys.modules.get("ctypes") is package
            and any(isinstance(f, _AliasFinder) for f in sys.meta_path))


def install():
    """Make ``ctypes``, its submodules and ``_ctypes`` resolve to ferrotypes.

    Call it first thing in the process, before anything imports ``ctypes``.
    Raises RuntimeError if the standard library's ``ctypes`` or ``_ctypes``
    is already imported.  Calling it again is harmless.
    """
    if installed():
        return
    clashes = _conflicting_modules()
    if clashes:
        raise RuntimeError(
            "ferrotypes.install() must run before the standard library's "
            "ctypes is imported, but these modules are already loaded: "
            + ", ".join(clashes))

    package = importlib.import_module(_PACKAGE)
    sys.modules["ctypes"] = package
    sys.modules["_ctypes"] = importlib.import_module(_EXTENSION)
    # Submodules ferrotypes has already imported (e.g. _endian) get their
    # ctypes names now; the rest are mapped by the finder when imported.
    prefix = _PACKAGE + "."
    for name, module in list(sys.modules.items()):
        if name.startswith(prefix) and name != _EXTENSION and module is not None:
            sys.modules["ctypes." + name[len(prefix):]] = module
    if not any(isinstance(f, _AliasFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _AliasFinder())
