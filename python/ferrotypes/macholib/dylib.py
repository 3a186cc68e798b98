"""Parse dylib file names: ``Location/Name[.Version][_Suffix].dylib``."""

import re

__all__ = ["dylib_info"]

# The short name is matched lazily, so in "Foo_debug.A.dylib" the "_debug"
# stays in the short name (it precedes the version), while in
# "Foo.A_debug.dylib" it is the suffix.
_DYLIB_NAME = re.compile(
    r"(?P<location>^.*)(?:^|/)"
    r"(?P<name>"
    r"(?P<shortname>\w+?)"
    r"(?:\.(?P<version>[^._]+))?"
    r"(?:_(?P<suffix>[^._]+))?"
    r"\.dylib$"
    r")"
)


def dylib_info(filename):
    """Split a dylib path into its parts, or return None if it is not one.

    The result is a dict with the keys ``location`` (the directory, "" if
    none), ``name`` (the file name), ``shortname``, ``version`` and
    ``suffix`` (the last two None when absent).  For example
    ``dylib_info("P/Foo.A_debug.dylib")`` gives location "P", name
    "Foo.A_debug.dylib", shortname "Foo", version "A", suffix "debug".
    """
    match = _DYLIB_NAME.match(filename)
    return match.groupdict() if match else None
