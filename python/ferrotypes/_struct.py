"""Structures declared with annotations: ``class Point(Struct): x: c_int; y: c_double``.

The metaclass turns the class body's ``__annotations__`` (in order) into ``_fields_`` before
the ordinary structure metaclass lays the type out, so the result is a plain ``Structure``
(or ``Union``) subclass: same layout, same behavior, passable anywhere one is expected.

An annotation names the field's ctypes type:

* ``x: c_int`` -- the ctypes type itself;
* ``x: Annotated[int, c_int]`` -- a Python type for type checkers plus the ctypes type
  (``ferrotypes.fields`` spells these for every simple type: ``fields.c_int`` is
  ``Annotated[int, c_int]``, so a type checker sees ``Point().x`` as ``int``);
* ``x: Annotated[c_int, 3]`` or ``Annotated[int, c_int, 3]`` -- a bit field of 3 bits;
* arrays, nested structures and pointers as usual: ``pos: Point``,
  ``Annotated[list, c_int * 4]``, ``next: POINTER(Node)`` (a type defined before).

``ClassVar[...]`` annotations are skipped. ``_pack_``, ``_align_``, ``_anonymous_`` are
ordinary class attributes. String annotations (``from __future__ import annotations``) are
evaluated in the defining module. A class that sets ``_fields_`` itself is left alone.
"""

import sys as _sys

from . import Structure as _Structure, Union as _Union

__all__ = ["Struct", "TypedUnion"]


def _is_ctypes_type(t):
    # Every ctypes type (simple, pointer, array, structure, union, function) has the
    # instance attribute `_b_base_` as a descriptor on the class.
    return isinstance(t, type) and hasattr(t, "_b_base_")


def _field(name, annotation, scope):
    """``(name, ctype)`` or ``(name, ctype, bits)`` for one annotation, or None to skip."""
    if isinstance(annotation, str):
        annotation = eval(annotation, scope)  # noqa: S307 - the class body's own source
    origin = getattr(annotation, "__origin__", None)
    if origin is not None and getattr(origin, "_name", None) == "ClassVar" or (
        getattr(annotation, "_name", None) == "ClassVar"
    ):
        return None
    ctype, bits = annotation, None
    metadata = getattr(annotation, "__metadata__", None)
    if metadata is not None:  # typing.Annotated[origin, *metadata]
        ctype = origin if _is_ctypes_type(origin) else None
        for item in metadata:
            if isinstance(item, int) and not isinstance(item, bool):
                bits = item
            elif ctype is None and _is_ctypes_type(item):
                ctype = item
    if ctype is None or not _is_ctypes_type(ctype):
        raise TypeError(
            f"field {name!r}: annotation {annotation!r} is not a ctypes type "
            "(write the ctypes type, or Annotated[python_type, ctypes_type])"
        )
    return (name, ctype) if bits is None else (name, ctype, bits)


def _fields_from_annotations(namespace, frame):
    annotations = namespace.get("__annotations__") or {}
    scope = None
    fields = []
    for name, annotation in annotations.items():
        if scope is None and isinstance(annotation, str):
            # String annotations see what the class body saw: the defining frame's globals
            # and locals (a class made inside a function), then the body itself.
            scope = dict(frame.f_globals) if frame is not None else {}
            if frame is not None:
                scope.update(frame.f_locals)
            scope.update(namespace)
        f = _field(name, annotation, scope)
        if f is not None:
            fields.append(f)
    return fields


def _make_meta(base_meta):
    class AnnotatedFieldsMeta(base_meta):
        def __new__(mcls, name, bases, namespace, **kwargs):
            is_root = namespace.get("_ferrotypes_annotated_root_", False)
            if not is_root and "_fields_" not in namespace and namespace.get("__annotations__"):
                namespace = dict(namespace)
                namespace["_fields_"] = _fields_from_annotations(namespace, _sys._getframe(1))
            return super().__new__(mcls, name, bases, namespace, **kwargs)

    AnnotatedFieldsMeta.__qualname__ = AnnotatedFieldsMeta.__name__ = f"Annotated{base_meta.__name__}"
    return AnnotatedFieldsMeta


class Struct(_Structure, metaclass=_make_meta(type(_Structure))):
    """A ``Structure`` whose ``_fields_`` come from the class body's annotations."""

    _ferrotypes_annotated_root_ = True


class TypedUnion(_Union, metaclass=_make_meta(type(_Union))):
    """A ``Union`` whose ``_fields_`` come from the class body's annotations."""

    _ferrotypes_annotated_root_ = True
