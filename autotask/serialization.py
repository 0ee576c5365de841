"""JSON that round-trips the types people pass to tasks; never pickle.

Plain JSON values are stored as they are. datetime, date, time, timedelta,
Decimal, UUID, tuple, set, frozenset, bytes and dicts with non-string keys
are stored as ``{"__autotask__": "<type>", "v": ...}`` and come back as the
same type; so do instances of dataclasses, pydantic models and classes with
``as_dict()`` (``model_values.py``), stored with their class's path. Anything
else is refused with a ``TypeError`` that says what the value is and what to
store instead (a primary key, a dotted path, ``.value``...).
"""

from __future__ import annotations

import base64
import datetime as dt
import enum
import json
import types
import uuid
from decimal import Decimal
from typing import Any, Callable

from . import model_values

TAG = "__autotask__"


def _make_json_writer() -> Callable[[Any], str]:
    """``json.dumps(value, separators=(",", ":"))`` for values ``_encode`` made.

    ``JSONEncoder.encode`` builds its C encoder anew on every call, a third of
    the time of storing a small call; this builds it once. Without the circular
    reference check: ``_encode`` returns a new tree, which has no cycles.
    """
    encoder = json.JSONEncoder(separators=(",", ":"), check_circular=False)
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # no C accelerator (PyPy...)
        return encoder.encode
    write = make(None, encoder.default, json.encoder.encode_basestring_ascii, None, ":", ",", False, False, True)
    return lambda value: "".join(write(value, 0))


_write_json = _make_json_writer()
_PLAIN = frozenset({type(None), bool, int, float, str})  # exactly these types are stored as they are


class _Unstorable(TypeError):
    def __init__(self, path: str, value: Any, why: str = "") -> None:
        self.path = path
        self.value = value
        self.why = why  # a model that can't be stored: why not
        super().__init__(path)


def _encode(value: Any, path: str) -> Any:
    if type(value) in _PLAIN:
        return value
    if isinstance(value, (bool, int, float, str)):
        # Subclasses (IntEnum, SafeString...) would not come back as themselves.
        raise _Unstorable(path, value)
    if isinstance(value, list):
        return [_encode(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        if all(type(k) is str for k in value) and TAG not in value:
            return {k: _encode(v, f"{path}[{k!r}]") for k, v in value.items()}
        return {TAG: "dict", "v": [[_encode(k, f"{path} key"), _encode(v, f"{path}[{k!r}]")] for k, v in value.items()]}
    if isinstance(value, tuple) and type(value) is tuple:
        return {TAG: "tuple", "v": [_encode(v, f"{path}[{i}]") for i, v in enumerate(value)]}
    if type(value) in (set, frozenset):
        items = [_encode(v, f"{path} item") for v in value]
        return {TAG: type(value).__name__, "v": items}
    if type(value) is dt.datetime:
        return {TAG: "datetime", "v": value.isoformat()}
    if type(value) is dt.date:
        return {TAG: "date", "v": value.isoformat()}
    if type(value) is dt.time:
        return {TAG: "time", "v": value.isoformat()}
    if type(value) is dt.timedelta:
        return {TAG: "timedelta", "v": [value.days, value.seconds, value.microseconds]}
    if type(value) is Decimal:
        return {TAG: "decimal", "v": str(value)}
    if type(value) is uuid.UUID:
        return {TAG: "uuid", "v": str(value)}
    if type(value) in (bytes, bytearray):
        return {TAG: type(value).__name__, "v": base64.b64encode(value).decode("ascii")}
    try:
        class_path, fields = model_values.fields_of(value)
    except model_values.NotAModel:
        raise _Unstorable(path, value) from None
    except TypeError as exc:
        raise _Unstorable(path, value, str(exc)) from None
    return {TAG: model_values.KIND, "c": class_path, "v": {k: _encode(v, f"{path}.{k}") for k, v in fields.items()}}


_DECODERS: dict[str, Callable[[Any], Any]] = {
    "tuple": tuple,
    "set": set,
    "frozenset": frozenset,
    "dict": lambda v: {k: val for k, val in v},
    "datetime": dt.datetime.fromisoformat,
    "date": dt.date.fromisoformat,
    "time": dt.time.fromisoformat,
    "timedelta": lambda v: dt.timedelta(days=v[0], seconds=v[1], microseconds=v[2]),
    "decimal": Decimal,
    "uuid": uuid.UUID,
    "bytes": lambda v: base64.b64decode(v),
    "bytearray": lambda v: bytearray(base64.b64decode(v)),
}


def _decode_object(obj: dict[str, Any]) -> Any:
    kind = obj.get(TAG)
    if kind is None:
        return obj
    if kind == model_values.KIND:
        return model_values.rebuild(obj["c"], obj["v"])
    return _DECODERS[kind](obj["v"])


_DECODER = json.JSONDecoder(object_hook=_decode_object)  # one decoder, as for the encoder


STORABLE = (
    "None, bool, int, float, str, list, dict, tuple, set, frozenset, bytes, datetime, date, time, "
    "timedelta, Decimal, UUID"
)


def _unstorable(value: Any) -> str:
    """What ``value`` is, and what to store instead: the message after "can't be stored: "."""
    from django.db.models import Model, QuerySet
    from django.utils.functional import Promise

    from .handle import DelayedTask

    kind = type(value).__qualname__
    if isinstance(value, Model):
        return f"a model instance ({kind}); use its primary key (.pk) and load the object where it is needed"
    if isinstance(value, QuerySet):
        return "a QuerySet; use a list of primary keys: list(queryset.values_list('pk', flat=True))"
    if isinstance(value, DelayedTask):
        return (
            "a task handle (DelayedTask); use handle.id (a str; DelayedTask(id) rebuilds the handle) "
            "or, once it is done, handle.result"
        )
    if isinstance(value, (types.FunctionType, types.BuiltinFunctionType, types.MethodType, type)):
        if value.__name__ == "<lambda>":
            return "a lambda; use the data it works on, or the dotted path of a module-level function as a str"
        path = f"{getattr(value, '__module__', None) or '?'}.{value.__qualname__}"
        if isinstance(value, type):
            return f"the class {path}; use its dotted path as a str ({path!r}) and import it where it runs"
        return (
            f"the function {path}; use its dotted path as a str ({path!r}) and import it where it runs, "
            "or the data it works on; to run it in the background, decorate it with @delayed_task"
        )
    if isinstance(value, enum.Enum):
        return f"{value!r}, an enum member; use its .value ({value.value!r})"
    for base in (str, int, float):
        if isinstance(value, base):
            return f"an instance of {kind}, a subclass of {base.__name__}; use {base.__name__}(value)"
    if isinstance(value, Promise):
        return "a lazy translation string; use str(value)"
    return (
        f"an instance of {kind}; the storable types are {STORABLE}, and instances of dataclasses, pydantic "
        "models and classes with as_dict(): store its data as those"
    )


def encode(value: Any, name: str = "value") -> Any:
    """``value`` as plain JSON data; a ``TypeError`` names ``name``, the part that can't be stored, and what would."""
    try:
        return _encode(value, name)
    except _Unstorable as exc:
        if exc.why:
            raise TypeError(f"{exc.path} can't be stored: {exc.why}") from None
        raise TypeError(f"{exc.path} can't be stored: it is {_unstorable(exc.value)}") from None
    except RecursionError:
        raise TypeError(f"{name} can't be stored: it refers to itself") from None


def dumps(value: Any, name: str = "value") -> str:
    """Serialize ``value`` to a JSON string (see ``encode``)."""
    return _write_json(encode(value, name))


def loads(text: str) -> Any:
    """The value ``dumps`` stored; ``ValueError`` if the text is not what ``dumps`` writes."""
    try:
        return _DECODER.decode(text)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"stored data can't be read: {exc}") from exc


def dumps_call(args: tuple[Any, ...], kwargs: dict[str, Any], names: Callable[[int], str]) -> str:
    """Serialize a call's arguments; ``names(i)`` gives the name of positional argument ``i``."""
    try:
        data = {
            "args": [_encode(arg, "") for arg in args],
            "kwargs": {key: _encode(arg, "") for key, arg in kwargs.items()},
        }
    except (_Unstorable, RecursionError):
        # Again, argument by argument, for an error message that names the argument.
        for i, arg in enumerate(args):
            encode(arg, f"argument {names(i)!r}")
        for key, arg in kwargs.items():
            encode(arg, f"argument {key!r}")
        raise
    return _write_json(data)


def loads_call(text: str) -> tuple[list[Any], dict[str, Any]]:
    data = loads(text)
    if not isinstance(data, dict) or not isinstance(data.get("args"), list) or not isinstance(data.get("kwargs"), dict):
        raise ValueError("stored data can't be read: arguments are not of the form {'args': [...], 'kwargs': {...}}")
    return data["args"], data["kwargs"]
