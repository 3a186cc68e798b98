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

try:
    from .._ctypes import _dyld_shared_cache_contains_path
except ImportError:
    def _dyld_shared_cache_contains_path(*args):
        raise NotImplementedError

__all__ = [
    "dyld_find", "framework_find",
    "framework_info", "dylib_info",
]

# Defaults from dyld(1), used when the fallback variables are not set.
DEFAULT_FRAMEWORK_FALLBACK = [
    os.path.expanduser("~/Library/Frameworks"),
    "/Library/Frameworks",
    "/Network/Library/Frameworks",
    "/System/Library/Frameworks",
]

DEFAULT_LIBRARY_FALLBACK = [
    os.path.expanduser("~/lib"),
    "/usr/local/lib",
    "/lib",
    "/usr/lib",
]


def dyld_env(env, var):
    """Return the colon-separated list in ``env[var]`` (``os.environ`` if None)."""
    if env is None:
        env = os.environ
    value = env.get(var)
    return [] if value is None else value.split(":")


def dyld_image_suffix(env=None):
    if env is None:
        env = os.environ
    return env.get("DYLD_IMAGE_SUFFIX")


def dyld_framework_path(env=None):
    return dyld_env(env, "DYLD_FRAMEWORK_PATH")


def dyld_library_path(env=None):
    return dyld_env(env, "DYLD_LIBRARY_PATH")


def dyld_fallback_framework_path(env=None):
    return dyld_env(env, "DYLD_FALLBACK_FRAMEWORK_PATH")


def dyld_fallback_library_path(env=None):
    return dyld_env(env, "DYLD_FALLBACK_LIBRARY_PATH")


def dyld_image_suffix_search(iterator, env=None):
    """Put the ``DYLD_IMAGE_SUFFIX`` variant before each candidate path."""
    suffix = dyld_image_suffix(env)
    if suffix is None:
        return iterator

    def with_suffix(paths=iterator, suffix=suffix):
        for path in paths:
            if path.endswith(".dylib"):
                yield path[:-len(".dylib")] + suffix + ".dylib"
            else:
                yield path + suffix
            yield path

    return with_suffix()


def dyld_override_search(name, env=None):
    """Candidates from ``DYLD_FRAMEWORK_PATH`` and ``DYLD_LIBRARY_PATH``."""
    framework = framework_info(name)
    if framework is not None:
        for directory in dyld_framework_path(env):
            yield os.path.join(directory, framework["name"])
    for directory in dyld_library_path(env):
        yield os.path.join(directory, os.path.basename(name))


def dyld_executable_path_search(name, executable_path=None):
    """The candidate for an ``@executable_path/`` name, if one applies."""
    prefix = "@executable_path/"
    if name.startswith(prefix) and executable_path is not None:
        yield os.path.join(executable_path, name[len(prefix):])


def dyld_default_search(name, env=None):
    """The name itself, then the fallback directories."""
    yield name

    framework = framework_info(name)
    fallback_frameworks = dyld_fallback_framework_path(env)
    if framework is not None:
        for directory in fallback_frameworks:
            yield os.path.join(directory, framework["name"])

    fallback_libraries = dyld_fallback_library_path(env)
    for directory in fallback_libraries:
        yield os.path.join(directory, os.path.basename(name))

    if framework is not None and not fallback_frameworks:
        for directory in DEFAULT_FRAMEWORK_FALLBACK:
            yield os.path.join(directory, framework["name"])

    if not fallback_libraries:
        for directory in DEFAULT_LIBRARY_FALLBACK:
            yield os.path.join(directory, os.path.basename(name))


def dyld_find(name, executable_path=None, env=None):
    """Return the path dyld would load for ``name``; ValueError if none."""
    candidates = itertools.chain(
        dyld_override_search(name, env),
        dyld_executable_path_search(name, executable_path),
        dyld_default_search(name, env),
    )
    for path in dyld_image_suffix_search(candidates, env):
        if os.path.isfile(path):
            return path
        try:
            if _dyld_shared_cache_contains_path(path):
                return path
        except NotImplementedError:
            pass
    raise ValueError("dylib %s could not be found" % (name,))


def framework_find(fn, executable_path=None, env=None):
    """Find a framework from a loose spelling of its name.

    Accepts e.g. "Python", "Python.framework" or
    "Python.framework/Versions/Current" as well as the path of the binary.
    Raises the ValueError of the first attempt if nothing is found.
    """
    try:
        return dyld_find(fn, executable_path=executable_path, env=env)
    except ValueError as first_error:
        error = first_error
    try:
        marker = fn.rfind(".framework")
        if marker == -1:
            marker = len(fn)
            fn += ".framework"
        binary = os.path.join(fn, os.path.basename(fn[:marker]))
        try:
            return dyld_find(binary, executable_path=executable_path, env=env)
        except ValueError:
            raise error from None
    finally:
        # Break the traceback -> frame -> error reference cycle.
        error = None
