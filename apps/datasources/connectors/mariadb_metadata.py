"""What MariaDB's extended metadata says of result columns: which are JSON, and the
type names the protocol's type codes cannot say.

MariaDB's JSON type is LONGTEXT with a JSON_VALID check: on the wire a JSON column is a
text blob, told apart only by the extended metadata MariaDB sends beside it (format
"json", also on what JSON_OBJECT() and its kin return). Its data types of plugins travel
the same way: INET6, INET4 and UUID are CHAR on the wire, POINT and POLYGON are GEOMETRY,
and only the data type name says which. libmariadb reads both with `mariadb_field_attr`;
mysqlclient does not expose it, so it is asked here through ctypes, from the MYSQL_RES
the driver's result object holds.

That object's layout is mysqlclient's own (`_mysql_ResultObject`: the Python object
header, `PyObject *conn`, `MYSQL_RES *result`). It is checked before it is trusted: the
pointer after the header must be the connection the cursor belongs to, and the result
must have as many fields as the cursor describes. Anything unexpected (another client
library, another layout) means "no JSON columns": the values then stay strings.
"""

import ctypes
import ctypes.util
from functools import cache
from typing import Any

# enum mariadb_field_attr_t
_DATA_TYPE_NAME = 0  # MARIADB_FIELD_ATTR_DATA_TYPE_NAME
_FORMAT_NAME = 1  # MARIADB_FIELD_ATTR_FORMAT_NAME
_POINTER = ctypes.sizeof(ctypes.c_void_p)
_HEADER = 2 * _POINTER  # PyObject_HEAD: reference count, type


class _ConstString(ctypes.Structure):  # MARIADB_CONST_STRING
    _fields_ = [("text", ctypes.c_char_p), ("length", ctypes.c_size_t)]


@cache
def _library() -> Any:
    name = ctypes.util.find_library("mariadb") or "libmariadb.so.3"
    try:
        library = ctypes.CDLL(name)
        field_attr = library.mariadb_field_attr
    except (OSError, AttributeError):
        return None
    field_attr.argtypes = [ctypes.POINTER(_ConstString), ctypes.c_void_p, ctypes.c_int]
    field_attr.restype = ctypes.c_int
    library.mysql_fetch_field_direct.argtypes = [ctypes.c_void_p, ctypes.c_uint]
    library.mysql_fetch_field_direct.restype = ctypes.c_void_p
    library.mysql_num_fields.argtypes = [ctypes.c_void_p]
    library.mysql_num_fields.restype = ctypes.c_uint
    return library


def json_columns(cursor: Any) -> frozenset[int]:
    """Indexes of the columns of the cursor's current result that MariaDB marks JSON."""
    return frozenset(index for index, name in _attribute(cursor, _FORMAT_NAME).items() if name == "json")


def data_type_names(cursor: Any) -> dict[int, str]:
    """The data type names MariaDB sends for columns of the cursor's current result
    (`inet6`, `uuid`, `point`), by column index; columns without one are left out."""
    return {index: name for index, name in _attribute(cursor, _DATA_TYPE_NAME).items() if name}


def _attribute(cursor: Any, attribute_kind: int) -> dict[int, str]:
    """One extended metadata attribute of each column of the cursor's current result that
    has it, by column index; nothing when the driver's layout is not the one expected."""
    library = _library()
    result = getattr(cursor, "_result", None)
    connection = getattr(cursor, "connection", None)
    columns = len(cursor.description or ())
    if library is None or result is None or connection is None or not columns:
        return {}
    if type(result).__basicsize__ < _HEADER + 2 * _POINTER:
        return {}
    if ctypes.c_void_p.from_address(id(result) + _HEADER).value != id(connection):
        return {}
    handle = ctypes.c_void_p.from_address(id(result) + _HEADER + _POINTER).value
    if not handle or library.mysql_num_fields(handle) != columns:
        return {}
    found = {}
    for index in range(columns):
        field = library.mysql_fetch_field_direct(handle, index)
        attribute = _ConstString()
        if not field or library.mariadb_field_attr(ctypes.byref(attribute), field, attribute_kind) != 0:
            continue
        found[index] = (attribute.text or b"")[: attribute.length].decode("ascii", "replace")
    return found
