"""Find libraries and frameworks the way macOS's dyld does.

The search order follows dyld(1):

1. overrides: ``DYLD_FRAMEWORK_PATH`` (framework names only), then
   ``DYLD_LIBRARY_PATH``;
2. ``@executable_path/...`` names, relative to the given executable path;
3. the name itself, then ``DYLD_FALLBACK_FRAMEWORK_PATH`` and
   ``DYLD_FALLBACK_LIBRARY_PATH``, or the default fallbacks when those are
   unset;

and every candidate is first tried with ``DYLD_IMAGE_SUFFIX`` inserted.
Since macOS 11 many system libraries exist only inside the dyld shared
cache, so a candidate also counts as found if the cache holds it.
"""

import itertools
import os

from .dylib import dylib_info
from .framework import framework_info

__all__ = ["dyld_find", "framework_find", "framework_info", "dylib_info"]

try:
    from .._ctypes import _dyld_shared_cache_contains_path
except ImportError:
    # Not a macOS build: there is no shared cache to ask.
    def _dyld_shared_cache_contains_path(*args):
        raise NotImplementedError

# Defaults from dyld(1), used when the fallback variables are not set.
DEFAULT_FRAMEWORK_FALLBACK = [os.path.expanduser("~/Library/Frameworks"),
                              "/Library/Frameworks", "/Network/Library/Frameworks",
                              "/System/Library/Frameworks"]
DEFAULT_LIBRARY_FALLBACK = [os.path.expanduser("~/lib"), "/usr/local/lib", "/lib", "/usr/lib"]


def _environ(env):
    return os.environ if env is None else env


def dyld_env(env, var):
    """Return the colon-separated list in ``env[var]`` (``os.environ`` if None)."""
    value = _environ(env).get(var)
    return [] if value is None else value.split(":")


def dyld_image_suffix(env=None):
    return _environ(env).get("DYLD_IMAGE_SUFFIX")


def dyld_framework_path(env=None):
    return dyld_env(env, "DYLD_FRAMEWORK_PATH")


def dyld_library_path(env=None):
    return dyld_env(env, "DYLD_LIBRARY_PATH")


def dyld_fallback_framework_path(env=None):
    return dyld_env(env, "DYLD_FALLBACK_FRAMEWORK_PATH")


def dyld_fallback_library_path(env=None):
    return dyld_env(env, "DYLD_FALLBACK_LIBRARY_PATH")


def _suffixed(paths, suffix):
    """Each path with ``suffix`` inserted (before ".dylib" if it ends so), then as is."""
    for path in paths:
        stem, extension = path, ""
        if path.endswith(".dylib"):
            stem, extension = path[:-len(".dylib")], ".dylib"
        yield stem + suffix + extension
        yield path


def dyld_image_suffix_search(iterator, env=None):
    """Put the ``DYLD_IMAGE_SUFFIX`` variant before each candidate path."""
    suffix = dyld_image_suffix(env)
    return iterator if suffix is None else _suffixed(iterator, suffix)


def _under(directories, leaf):
    return (os.path.join(directory, leaf) for directory in directories)


def dyld_override_search(name, env=None):
    """Candidates from ``DYLD_FRAMEWORK_PATH`` and ``DYLD_LIBRARY_PATH``."""
    framework = framework_info(name)
    if framework is not None:
        yield from _under(dyld_framework_path(env), framework["name"])
    yield from _under(dyld_library_path(env), os.path.basename(name))


def dyld_executable_path_search(name, executable_path=None):
    """The candidate for an ``@executable_path/`` name, if one applies."""
    prefix = "@executable_path/"
    relative = name[len(prefix):] if name.startswith(prefix) else None
    if relative is not None and executable_path is not None:
        yield os.path.join(executable_path, relative)


def dyld_default_search(name, env=None):
    """The name itself, then the fallback directories.

    Frameworks are looked for before libraries, first in the directories the
    environment names, then in dyld's defaults for each variable left unset.
    """
    yield name
    framework = framework_info(name)
    # (directories from the environment, dyld's defaults, file name to look for)
    searches = []
    if framework is not None:
        searches.append((dyld_fallback_framework_path(env), DEFAULT_FRAMEWORK_FALLBACK,
                         framework["name"]))
    searches.append((dyld_fallback_library_path(env), DEFAULT_LIBRARY_FALLBACK,
                     os.path.basename(name)))
    for directories, _defaults, leaf in searches:
        yield from _under(directories, leaf)
    for directories, defaults, leaf in searches:
        if not directories:
            yield from _under(defaults, leaf)


def _in_shared_cache(path):
    try:
        return bool(_dyld_shared_cache_contains_path(path))
    except NotImplementedError:
        return False


def dyld_find(name, executable_path=None, env=None):
    """Return the path dyld would load for ``name``; ValueError if none."""
    candidates = itertools.chain(
        dyld_override_search(name, env),
        dyld_executable_path_search(name, executable_path),
        dyld_default_search(name, env),
    )
    for path in dyld_image_suffix_search(candidates, env):
        if os.path.isfile(path) or _in_shared_cache(path):
            return path
    raise ValueError("dylib %s could not be found" % (name,))


def framework_find(fn, executable_path=None, env=None):
    """Find a framework from a loose spelling of its name.

    Accepts e.g. "Python", "Python.framework" or
    "Python.framework/Versions/Current" as well as the path of the binary.
    Raises the ValueError of the first attempt if nothing is found.
    """
    try:
        return dyld_find(fn, executable_path=executable_path, env=env)
    except ValueError as exc:
        first_error = exc
    try:
        # Second try: the binary inside the bundle, named like the bundle.
        cut = fn.rfind(".framework")
        if cut == -1:
            bundle, short_name = fn + ".framework", os.path.basename(fn)
        else:
            bundle, short_name = fn, os.path.basename(fn[:cut])
        binary = os.path.join(bundle, short_name)
        try:
            return dyld_find(binary, executable_path=executable_path, env=env)
        except ValueError:
            raise first_error from None
    finally:
        # Break the traceback -> frame -> error reference cycle.
        first_error = None
