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
# Integers and characters

BYTE = ctypes.c_byte
WORD = ctypes.c_ushort
DWORD = ctypes.c_ulong

CHAR = ctypes.c_char
WCHAR = ctypes.c_wchar
UINT = ctypes.c_uint
INT = ctypes.c_int

DOUBLE = ctypes.c_double
FLOAT = ctypes.c_float

BOOLEAN = BYTE
BOOL = ctypes.c_long


class VARIANT_BOOL(ctypes._SimpleCData):
    """The 16-bit OLE boolean: reads any non-zero value as True."""
    _type_ = "v"

    def __repr__(self):
        return "%s(%r)" % (type(self).__name__, self.value)


ULONG = ctypes.c_ulong
LONG = ctypes.c_long

USHORT = ctypes.c_ushort
SHORT = ctypes.c_short

# Unions in the Windows headers; only their 64-bit integer view is offered.
_LARGE_INTEGER = LARGE_INTEGER = ctypes.c_longlong
_ULARGE_INTEGER = ULARGE_INTEGER = ctypes.c_ulonglong

# Strings and untyped pointers
LPCOLESTR = LPOLESTR = OLESTR = ctypes.c_wchar_p
LPCWSTR = LPWSTR = ctypes.c_wchar_p
LPCSTR = LPSTR = ctypes.c_char_p
LPCVOID = LPVOID = ctypes.c_void_p

# Pointer-sized message parameters: WPARAM is UINT_PTR, LPARAM is LONG_PTR.
if ctypes.sizeof(ctypes.c_long) == ctypes.sizeof(ctypes.c_void_p):
    WPARAM = ctypes.c_ulong
    LPARAM = ctypes.c_long
elif ctypes.sizeof(ctypes.c_longlong) == ctypes.sizeof(ctypes.c_void_p):
    WPARAM = ctypes.c_ulonglong
    LPARAM = ctypes.c_longlong

ATOM = WORD
LANGID = WORD

COLORREF = DWORD
LGRPID = DWORD
LCTYPE = DWORD

LCID = DWORD

# ---------------------------------------------------------------------------
# Handles: all opaque pointers.

HANDLE = ctypes.c_void_p

HACCEL = HBITMAP = HBRUSH = HCOLORSPACE = HDC = HDESK = HDWP = HANDLE
HENHMETAFILE = HFONT = HGDIOBJ = HGLOBAL = HHOOK = HICON = HANDLE
HINSTANCE = HKEY = HKL = HLOCAL = HMENU = HMETAFILE = HMODULE = HANDLE
HMONITOR = HPALETTE = HPEN = HRGN = HRSRC = HSTR = HTASK = HANDLE
HWINSTA = HWND = SC_HANDLE = SERVICE_STATUS_HANDLE = HANDLE

# ---------------------------------------------------------------------------
# Structures


class RECT(ctypes.Structure):
    _fields_ = [("left", LONG),
                ("top", LONG),
                ("right", LONG),
                ("bottom", LONG)]


tagRECT = _RECTL = RECTL = RECT


class _SMALL_RECT(ctypes.Structure):
    _fields_ = [("Left", SHORT),
                ("Top", SHORT),
                ("Right", SHORT),
                ("Bottom", SHORT)]


SMALL_RECT = _SMALL_RECT


class _COORD(ctypes.Structure):
    _fields_ = [("X", SHORT),
                ("Y", SHORT)]


class POINT(ctypes.Structure):
    _fields_ = [("x", LONG),
                ("y", LONG)]


tagPOINT = _POINTL = POINTL = POINT


class SIZE(ctypes.Structure):
    _fields_ = [("cx", LONG),
                ("cy", LONG)]


tagSIZE = SIZEL = SIZE


def RGB(red, green, blue):
    """Pack 8-bit color components into a COLORREF value (0x00BBGGRR)."""
    return red + (green << 8) + (blue << 16)


class FILETIME(ctypes.Structure):
    _fields_ = [("dwLowDateTime", DWORD),
                ("dwHighDateTime", DWORD)]


_FILETIME = FILETIME


class MSG(ctypes.Structure):
    _fields_ = [("hWnd", HWND),
                ("message", UINT),
                ("wParam", WPARAM),
                ("lParam", LPARAM),
                ("time", DWORD),
                ("pt", POINT)]


tagMSG = MSG

MAX_PATH = 260


def _find_data_fields(char):
    """Fields of WIN32_FIND_DATA{A,W}, which differ only in character type."""
    return [("dwFileAttributes", DWORD),
            ("ftCreationTime", FILETIME),
            ("ftLastAccessTime", FILETIME),
            ("ftLastWriteTime", FILETIME),
            ("nFileSizeHigh", DWORD),
            ("nFileSizeLow", DWORD),
            ("dwReserved0", DWORD),
            ("dwReserved1", DWORD),
            ("cFileName", char * MAX_PATH),
            ("cAlternateFileName", char * 14)]


class WIN32_FIND_DATAA(ctypes.Structure):
    _fields_ = _find_data_fields(CHAR)


class WIN32_FIND_DATAW(ctypes.Structure):
    _fields_ = _find_data_fields(WCHAR)


# ---------------------------------------------------------------------------
# Pointer types

LPBOOL = PBOOL = ctypes.POINTER(BOOL)
PBOOLEAN = ctypes.POINTER(BOOLEAN)
LPBYTE = PBYTE = ctypes.POINTER(BYTE)
PCHAR = ctypes.POINTER(CHAR)
LPCOLORREF = ctypes.POINTER(COLORREF)
LPDWORD = PDWORD = ctypes.POINTER(DWORD)
LPFILETIME = PFILETIME = ctypes.POINTER(FILETIME)
PFLOAT = ctypes.POINTER(FLOAT)
LPHANDLE = PHANDLE = ctypes.POINTER(HANDLE)
PHKEY = ctypes.POINTER(HKEY)
LPHKL = ctypes.POINTER(HKL)
LPINT = PINT = ctypes.POINTER(INT)
PLARGE_INTEGER = ctypes.POINTER(LARGE_INTEGER)
PLCID = ctypes.POINTER(LCID)
LPLONG = PLONG = ctypes.POINTER(LONG)
LPMSG = PMSG = ctypes.POINTER(MSG)
LPPOINT = PPOINT = ctypes.POINTER(POINT)
PPOINTL = ctypes.POINTER(POINTL)
LPRECT = PRECT = ctypes.POINTER(RECT)
LPRECTL = PRECTL = ctypes.POINTER(RECTL)
LPSC_HANDLE = ctypes.POINTER(SC_HANDLE)
PSHORT = ctypes.POINTER(SHORT)
LPSIZE = PSIZE = ctypes.POINTER(SIZE)
LPSIZEL = PSIZEL = ctypes.POINTER(SIZEL)
PSMALL_RECT = ctypes.POINTER(SMALL_RECT)
LPUINT = PUINT = ctypes.POINTER(UINT)
PULARGE_INTEGER = ctypes.POINTER(ULARGE_INTEGER)
PULONG = ctypes.POINTER(ULONG)
PUSHORT = ctypes.POINTER(USHORT)
PWCHAR = ctypes.POINTER(WCHAR)
LPWIN32_FIND_DATAA = PWIN32_FIND_DATAA = ctypes.POINTER(WIN32_FIND_DATAA)
LPWIN32_FIND_DATAW = PWIN32_FIND_DATAW = ctypes.POINTER(WIN32_FIND_DATAW)
LPWORD = PWORD = ctypes.POINTER(WORD)

del _find_data_fields
