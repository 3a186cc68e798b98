"""Names of common Windows API data types, as ferrotypes types.

Pure type definitions: no library is loaded, so the module imports on every
platform, like the standard ``ctypes.wintypes``.  Sizes follow the host C
types (``DWORD`` is ``c_ulong``), which match Windows only on Windows.
"""

import sys as _sys

# The package itself, under the name the standard module gives it (some code
# reaches ctypes through "wintypes.ctypes").
ctypes = _sys.modules[__package__]

# ---------------------------------------------------------------------------
# Integers, characters and floating point

CHAR, WCHAR = ctypes.c_char, ctypes.c_wchar
# BYTE is unsigned, as in the Windows headers, from 3.12; 3.11 had it signed.
BYTE = ctypes.c_byte if _sys.version_info < (3, 12) else ctypes.c_ubyte
WORD, DWORD = ctypes.c_ushort, ctypes.c_ulong
SHORT, USHORT = ctypes.c_short, ctypes.c_ushort
INT, UINT = ctypes.c_int, ctypes.c_uint
LONG, ULONG = ctypes.c_long, ctypes.c_ulong
FLOAT, DOUBLE = ctypes.c_float, ctypes.c_double

# Unions in the Windows headers; only their 64-bit integer view is offered.
_LARGE_INTEGER = LARGE_INTEGER = ctypes.c_longlong
_ULARGE_INTEGER = ULARGE_INTEGER = ctypes.c_ulonglong

# Typedefs of the types above.
BOOLEAN = BYTE
BOOL = ctypes.c_long
ATOM = LANGID = WORD
COLORREF = LCID = LCTYPE = LGRPID = DWORD


class VARIANT_BOOL(ctypes._SimpleCData):
    """The 16-bit OLE boolean: reads any non-zero value as True."""
    _type_ = "v"

    def __repr__(self):
        return "%s(%r)" % (type(self).__name__, self.value)


# Pointer-sized message parameters: WPARAM is UINT_PTR, LPARAM is LONG_PTR, made
# of the first integer type as wide as a pointer.
for _signed, _unsigned in ((ctypes.c_long, ctypes.c_ulong),
                           (ctypes.c_longlong, ctypes.c_ulonglong)):
    if ctypes.sizeof(_signed) == ctypes.sizeof(ctypes.c_void_p):
        WPARAM, LPARAM = _unsigned, _signed
        break
del _signed, _unsigned

# Strings and untyped pointers
LPSTR = LPCSTR = ctypes.c_char_p
LPWSTR = LPCWSTR = OLESTR = LPOLESTR = LPCOLESTR = ctypes.c_wchar_p
LPVOID = LPCVOID = ctypes.c_void_p

# ---------------------------------------------------------------------------
# Handles: all opaque pointers.

HANDLE = ctypes.c_void_p

HACCEL = HBITMAP = HBRUSH = HCOLORSPACE = HDC = HDESK = HDWP = HANDLE
HENHMETAFILE = HFONT = HGDIOBJ = HGLOBAL = HHOOK = HICON = HANDLE
HINSTANCE = HKEY = HKL = HLOCAL = HMENU = HMETAFILE = HMODULE = HANDLE
HMONITOR = HPALETTE = HPEN = HRGN = HRSRC = HSTR = HTASK = HANDLE
HWINSTA = HWND = SC_HANDLE = SERVICE_STATUS_HANDLE = HANDLE
if _sys.version_info >= (3, 14):
    # Names added in 3.14: more handles, and two integer typedefs.
    HCONV = HCONVLIST = HCURSOR = HDDEDATA = HDROP = HSZ = HANDLE
    HFILE = INT
    HRESULT = LONG

# ---------------------------------------------------------------------------
# Structures


class RECT(ctypes.Structure):
    _fields_ = [("left", LONG), ("top", LONG), ("right", LONG), ("bottom", LONG)]


tagRECT = _RECTL = RECTL = RECT


class _SMALL_RECT(ctypes.Structure):
    _fields_ = [("Left", SHORT), ("Top", SHORT), ("Right", SHORT), ("Bottom", SHORT)]


SMALL_RECT = _SMALL_RECT


class _COORD(ctypes.Structure):
    _fields_ = [("X", SHORT), ("Y", SHORT)]


class POINT(ctypes.Structure):
    _fields_ = [("x", LONG), ("y", LONG)]


tagPOINT = _POINTL = POINTL = POINT


class SIZE(ctypes.Structure):
    _fields_ = [("cx", LONG), ("cy", LONG)]


tagSIZE = SIZEL = SIZE


def RGB(red, green, blue):
    """Pack 8-bit color components into a COLORREF value (0x00BBGGRR)."""
    return red + (green << 8) + (blue << 16)


class FILETIME(ctypes.Structure):
    _fields_ = [("dwLowDateTime", DWORD), ("dwHighDateTime", DWORD)]


_FILETIME = FILETIME


class MSG(ctypes.Structure):
    _fields_ = [("hWnd", HWND), ("message", UINT),
                ("wParam", WPARAM), ("lParam", LPARAM),
                ("time", DWORD), ("pt", POINT)]


tagMSG = MSG

MAX_PATH = 260


def _find_data_fields(char):
    """Fields of WIN32_FIND_DATA{A,W}, which differ only in character type."""
    return [("dwFileAttributes", DWORD),
            ("ftCreationTime", FILETIME), ("ftLastAccessTime", FILETIME),
            ("ftLastWriteTime", FILETIME),
            ("nFileSizeHigh", DWORD), ("nFileSizeLow", DWORD),
            ("dwReserved0", DWORD), ("dwReserved1", DWORD),
            ("cFileName", char * MAX_PATH), ("cAlternateFileName", char * 14)]


class WIN32_FIND_DATAA(ctypes.Structure):
    _fields_ = _find_data_fields(CHAR)


class WIN32_FIND_DATAW(ctypes.Structure):
    _fields_ = _find_data_fields(WCHAR)


# ---------------------------------------------------------------------------
# Pointer types

# to integers, characters and floating point
PCHAR = ctypes.POINTER(CHAR)
PWCHAR = ctypes.POINTER(WCHAR)
LPBYTE = PBYTE = ctypes.POINTER(BYTE)
PBOOLEAN = ctypes.POINTER(BOOLEAN)
PSHORT = ctypes.POINTER(SHORT)
PUSHORT = ctypes.POINTER(USHORT)
LPWORD = PWORD = ctypes.POINTER(WORD)
LPINT = PINT = ctypes.POINTER(INT)
LPUINT = PUINT = ctypes.POINTER(UINT)
LPBOOL = PBOOL = ctypes.POINTER(BOOL)
LPLONG = PLONG = ctypes.POINTER(LONG)
PULONG = ctypes.POINTER(ULONG)
LPDWORD = PDWORD = ctypes.POINTER(DWORD)
LPCOLORREF = ctypes.POINTER(COLORREF)
PLCID = ctypes.POINTER(LCID)
PLARGE_INTEGER = ctypes.POINTER(LARGE_INTEGER)
PULARGE_INTEGER = ctypes.POINTER(ULARGE_INTEGER)
PFLOAT = ctypes.POINTER(FLOAT)

# to handles
LPHANDLE = PHANDLE = ctypes.POINTER(HANDLE)
PHKEY = ctypes.POINTER(HKEY)
LPHKL = ctypes.POINTER(HKL)
LPSC_HANDLE = ctypes.POINTER(SC_HANDLE)

# to structures
LPRECT = PRECT = ctypes.POINTER(RECT)
LPRECTL = PRECTL = ctypes.POINTER(RECTL)
PSMALL_RECT = ctypes.POINTER(SMALL_RECT)
LPPOINT = PPOINT = ctypes.POINTER(POINT)
PPOINTL = ctypes.POINTER(POINTL)
LPSIZE = PSIZE = ctypes.POINTER(SIZE)
LPSIZEL = PSIZEL = ctypes.POINTER(SIZEL)
LPFILETIME = PFILETIME = ctypes.POINTER(FILETIME)
LPMSG = PMSG = ctypes.POINTER(MSG)
LPWIN32_FIND_DATAA = PWIN32_FIND_DATAA = ctypes.POINTER(WIN32_FIND_DATAA)
LPWIN32_FIND_DATAW = PWIN32_FIND_DATAW = ctypes.POINTER(WIN32_FIND_DATAW)

del _find_data_fields
