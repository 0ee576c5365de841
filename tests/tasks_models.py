"""Fixture tasks and models for input and output models (dataclasses, pydantic, ``as_dict()``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from autotask.tasks import delayed_task

try:
    import pydantic
except ImportError:  # optional: its tests are skipped
    pydantic = None


# The lilota seed's example, in autotask's terms.
@dataclass
class AddInput:
    a: int
    b: int


@dataclass
class AddOutput:
    sum: int


@delayed_task(name="add")
def add(data: AddInput) -> AddOutput:
    return AddOutput(sum=data.a + data.b)


@dataclass
class Line:
    text: str
    when: dt.date


@dataclass
class Report:
    title: str
    lines: list[Line] = field(default_factory=list)
    index: dict[str, Line] = field(default_factory=dict)


class Point:
    """Not a dataclass: ``as_dict()`` and a constructor that takes its items as keywords."""

    def __init__(self, x: int, y: int) -> None:
        self.x, self.y = x, y

    def as_dict(self) -> dict:
        return {"x": self.x, "y": self.y}

    def __eq__(self, other: object) -> bool:
        return type(other) is Point and (other.x, other.y) == (self.x, self.y)


class Strict:
    """Refuses the stored fields when ``STRICT_REFUSES`` says so (set in the worker's environment)."""

    def __init__(self, value: int) -> None:
        import os

        if os.environ.get("STRICT_REFUSES"):
            raise ValueError("Strict refuses every value in this process")
        self.value = value

    def as_dict(self) -> dict:
        return {"value": self.value}


class NotJson:
    def as_dict(self) -> dict:
        return {"handle": object()}


if pydantic is not None:

    class Address(pydantic.BaseModel):
        city: str
        since: dt.date

    class Person(pydantic.BaseModel):
        name: str
        addresses: list[Address] = []


@delayed_task()
def echo(value):
    """Returns what it was given: the result is stored and read back as the argument was."""
    return value


@delayed_task()
def describe(value):
    """What the worker received: the argument's type and fields, as plain data."""
    return {"type": type(value).__qualname__, "repr": repr(value)}
