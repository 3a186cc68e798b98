"""Parse framework binary paths: ``Location/Name.framework/[Versions/V/]Name[_Suffix]``."""

import re

__all__ = ["framework_info"]

# The binary inside the bundle must repeat the bundle's short name.  The dot
# before "framework" is a plain regex dot, as in the matcher macOS Python has
# always used, so results agree with it even for odd names.
_FRAMEWORK_PATH = re.compile(
    r"(?P<location>^.*)(?:^|/)"
    r"(?P<name>"
    r"(?P<shortname>\w+).framework/"
    r"(?:Versions/(?P<version>[^/]+)/)?"
    r"(?P=shortname)"
    r"(?:_(?P<suffix>[^_]+))?"
    r")$"
)


def framework_info(filename):
    """Split a framework binary path into its parts, or return None.

    The result is a dict with the keys ``location`` (where the bundle is),
    ``name`` (the path from the bundle to the binary), ``shortname``,
    ``version`` and ``suffix`` (the last two None when absent).  For example
    ``framework_info("P/F.framework/Versions/A/F_debug")`` gives location
    "P", name "F.framework/Versions/A/F_debug", shortname "F", version "A",
    suffix "debug".
    """
    match = _FRAMEWORK_PATH.match(filename)
    return match.groupdict() if match else None
