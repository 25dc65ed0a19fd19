"""A tiny TOML writer: just enough for vrrpd configuration files (lab configurations and
`vrrpctl import-keepalived`).

The standard library reads TOML (`tomllib`) but cannot write it. This renders nested
mappings, arrays of tables, and scalars (str, int, float, bool) into TOML that `tomllib.loads`
reads back to an equal document. `None` has no TOML spelling and is rejected, naming the key.

    >>> print(dumps({"daemon": {"control_socket": "/run/x.sock"},
    ...              "virtual_router": [{"name": "gw", "vrid": 51}]}))
    [daemon]
    control_socket = "/run/x.sock"
    <BLANKLINE>
    [[virtual_router]]
    name = "gw"
    vrid = 51
    <BLANKLINE>
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence

__all__ = ["dumps"]

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_ESCAPES = {
    "\\": "\\\\",
    '"': '\\"',
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
}


def dumps(doc: Mapping[str, object]) -> str:
    """Render `doc` as a TOML document (a str ending with a newline, or "" when empty)."""
    out: list[str] = []
    _table(doc, (), out, header=None)
    text = "\n".join(out).strip("\n")
    return text + "\n" if text else ""


def _key(k: object) -> str:
    if not isinstance(k, str):
        raise TypeError(f"TOML keys must be str, got {k!r}")
    return k if _BARE_KEY.match(k) else _string(k)


def _string(s: str) -> str:
    parts = []
    for ch in s:
        if ch in _ESCAPES:
            parts.append(_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            parts.append(f"\\u{ord(ch):04x}")
        else:
            parts.append(ch)
    return '"' + "".join(parts) + '"'


def _is_table(v: object) -> bool:
    return isinstance(v, Mapping)


def _is_table_array(v: object) -> bool:
    return (
        isinstance(v, Sequence)
        and not isinstance(v, str | bytes)
        and len(v) > 0
        and all(isinstance(x, Mapping) for x in v)
    )


def _value(v: object, path: tuple[str, ...]) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return _string(v)
    if isinstance(v, Mapping):
        items = ", ".join(f"{_key(k)} = {_value(x, (*path, str(k)))}" for k, x in v.items())
        return "{ " + items + " }" if items else "{}"
    if isinstance(v, Sequence) and not isinstance(v, bytes):
        return "[" + ", ".join(_value(x, path) for x in v) + "]"
    where = ".".join(path) or "<root>"
    raise TypeError(f"cannot render {type(v).__name__} value {v!r} at key {where!r} as TOML")


def _table(
    table: Mapping[str, object], path: tuple[str, ...], out: list[str], header: str | None
) -> None:
    if header is not None:
        out.append("")
        out.append(header)
    simple = [(k, v) for k, v in table.items() if not _is_table(v) and not _is_table_array(v)]
    subtables = [(k, v) for k, v in table.items() if _is_table(v)]
    arrays = [(k, v) for k, v in table.items() if _is_table_array(v)]
    for k, v in simple:
        out.append(f"{_key(k)} = {_value(v, (*path, k))}")
    for k, v in subtables:
        sub_path = (*path, k)
        assert isinstance(v, Mapping)
        _table(v, sub_path, out, header="[" + ".".join(_key(p) for p in sub_path) + "]")
    for k, v in arrays:
        sub_path = (*path, k)
        assert isinstance(v, Sequence)
        for item in v:
            _table(item, sub_path, out, header="[[" + ".".join(_key(p) for p in sub_path) + "]]")
