"""Mach-O library path logic for macOS: how dyld would locate a library.

Used by ``ferrotypes.util.find_library`` on macOS.  The modules only
manipulate path strings, so they import (and can be tested) anywhere:

- ``dylib``: split ``Location/Name.Version_Suffix.dylib`` into parts;
- ``framework``: split ``Location/Name.framework/Versions/V/Name_Suffix``;
- ``dyld``: search the places dyld(1) searches, honouring the ``DYLD_*``
  environment variables.
"""

__version__ = "1.0"
