"""Input and output models as stored values: dataclasses, pydantic models, ``as_dict()`` classes.

An instance is stored as ``{"__autotask__": "model", "c": "<module.QualName>",
"v": {field: value}}`` (``serialization.py`` encodes the field values, so a
model in a list in a model comes back as itself) and is rebuilt where it is read:

- a dataclass from its ``init`` fields, ``cls(**fields)``;
- a pydantic (v2) model from ``model_dump(mode="json", by_alias=True)``, with
  ``cls.model_validate(data)``, so pydantic rebuilds its nested models and types;
- any other object with ``as_dict()`` from that dict, ``cls(**data)``.

Only values that are none of the built-in storable types get here, so other
values pay nothing. pydantic is never imported here: a value is a pydantic
model only if pydantic is loaded already.
"""

from __future__ import annotations

import dataclasses
import sys
from typing import Any, Callable

from . import loader

KIND = "model"
_classes: dict[str, type] = {}  # dotted path -> class, once imported in this process


class NotAModel(Exception):
    """The value is not a model this module stores."""


def _class_path(cls: type) -> str:
    qualname = cls.__qualname__
    if "<locals>" in qualname or cls.__module__ == "__main__":
        where = "in __main__" if cls.__module__ == "__main__" else "inside a function"
        raise TypeError(f"the class {qualname} is defined {where}; a worker must import it: define it at module level")
    return f"{cls.__module__}.{qualname}"


def _is_pydantic(value: Any) -> bool:
    pydantic = sys.modules.get("pydantic")
    return pydantic is not None and isinstance(value, pydantic.BaseModel)


def fields_of(value: Any) -> tuple[str, dict[str, Any]]:
    """The class path and the fields to store of a model instance; ``NotAModel`` for other values.

    ``TypeError`` if it is a model that can't be stored (a local class, ``as_dict()``
    that returns no dict, a pydantic model pydantic can't dump as JSON).
    """
    cls = type(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        data = {field.name: getattr(value, field.name) for field in dataclasses.fields(value) if field.init}
    elif _is_pydantic(value):
        try:
            data = value.model_dump(mode="json", by_alias=True)
        except Exception as exc:  # PydanticSerializationError: a field of a type JSON doesn't have
            raise TypeError(f"the pydantic model {cls.__qualname__} can't be dumped as JSON: {exc}") from None
    elif callable(getattr(value, "as_dict", None)) and not isinstance(value, type):
        data = value.as_dict()
        if not isinstance(data, dict) or not all(type(key) is str for key in data):
            raise TypeError(
                f"{cls.__qualname__}.as_dict() must return a dict with str keys (its constructor's keywords), "
                f"got {type(data).__name__}"
            )
    else:
        raise NotAModel
    return _class_path(cls), data


def _find_class(path: str) -> type:
    cls = _classes.get(path)
    if cls is None:
        try:
            cls = loader.find(path)
        except ImportError as exc:
            raise ValueError(f"the class {path} of a stored model can't be imported here: {exc}") from None
        if not isinstance(cls, type):
            raise ValueError(f"{path}, the class of a stored model, is not a class but {type(cls).__name__}")
        _classes[path] = cls
    return cls


def rebuild(path: str, data: dict[str, Any]) -> Any:
    """The instance of the class at ``path`` made from stored ``data``; ``ValueError``
    naming the class if it can't be imported or refuses the data."""
    cls = _find_class(path)
    build: Callable[..., Any] = cls
    validate = getattr(cls, "model_validate", None)
    try:
        if validate is not None and _is_pydantic_class(cls):
            return validate(data)
        return build(**data)
    except Exception as exc:
        raise ValueError(f"the class {path} refused the stored fields {sorted(data)}: {exc}") from None


def _is_pydantic_class(cls: type) -> bool:
    pydantic = sys.modules.get("pydantic")
    return pydantic is not None and issubclass(cls, pydantic.BaseModel)
