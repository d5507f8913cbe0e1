"""A small JSON encoder for the per-second path.

The stdlib ``json`` package imports ``re`` and its decoder (~8 ms of start-up on
every tick); its C accelerator ``_json`` is all the snapshot needs.  Output is
compact, UTF-8-ready text (non-ASCII kept as is, like
``json.dumps(ensure_ascii=False)``); NaN and infinities become null.
"""

from _json import encode_basestring as _str, make_encoder as _make_encoder

_INF = float("inf")


def _refuse(o):
    raise TypeError(f"cannot encode {o.__class__.__name__} as JSON")


# json's own C encoder, compact, without the cycle check; it refuses NaN and
# infinities (ValueError), which the pure-Python _enc below writes as null.
_c_encode = _make_encoder(None, _refuse, _str, None, ":", ",", False, False, False)


def dumps(obj) -> str:
    try:
        return "".join(_c_encode(obj, 0))
    except ValueError:  # a NaN somewhere: rare, and 5-10x slower
        parts: list[str] = []
        _enc(obj, parts.append)
        return "".join(parts)


def number(x) -> str:
    """JSON text of an int or float (null for NaN/inf)."""
    if x.__class__ is int:
        return int.__repr__(x)
    if x != x or x in (_INF, -_INF):
        return "null"
    return float.__repr__(x)


def string(s: str) -> str:
    return _str(s)


def _enc(o, w):
    c = o.__class__
    if c is str:
        w(_str(o))
    elif o is None:
        w("null")
    elif o is True:
        w("true")
    elif o is False:
        w("false")
    elif c is int or c is float:
        w(number(o))
    elif c is dict:
        w("{")
        first = True
        for k, v in o.items():
            if not first:
                w(",")
            first = False
            w(_str(k))
            w(":")
            _enc(v, w)
        w("}")
    elif c is list or c is tuple:
        w("[")
        first = True
        for v in o:
            if not first:
                w(",")
            first = False
            _enc(v, w)
        w("]")
    else:
        raise TypeError(f"cannot encode {c.__name__} as JSON")
