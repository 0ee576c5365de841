import datetime as dt
import json
import uuid
from decimal import Decimal

import pytest

from autotask import serialization

ROUND_TRIP = [
    None, True, 0, -5, 1.5, "text", [1, "a", None], {"a": 1, "b": [2]},
    dt.datetime(2026, 3, 29, 2, 30, tzinfo=dt.timezone.utc), dt.datetime(2026, 1, 1, 12, 0), dt.date(2026, 2, 28),
    dt.time(7, 30, 15, 5), dt.timedelta(days=2, seconds=3, microseconds=4), Decimal("1.10"), uuid.uuid4(),
    (1, 2, (3,)), {1, 2}, frozenset({"x"}), b"\x00\xffbytes", bytearray(b"ab"), {1: "int key", (1, 2): "tuple key"},
    {"__autotask__": "a user's own key"}, [{"nested": (dt.date(2020, 1, 1), {Decimal("2")})}],
]


@pytest.mark.parametrize("value", ROUND_TRIP, ids=lambda v: type(v).__name__)
def test_round_trip_keeps_value_and_type(value):
    back = serialization.loads(serialization.dumps(value))
    assert back == value
    assert type(back) is type(value)


def test_stored_text_is_what_json_dumps_writes():
    value = {"text": "ünïcode \u2028 \"quoted\"", "numbers": [1, -2.5, 1e300, float("inf"), float("nan")], "nested": {"a": [None, True]}}
    assert serialization.dumps(value) == json.dumps(value, separators=(",", ":"))
    back = serialization.loads(serialization.dumps(value))
    assert back["text"] == value["text"] and back["numbers"][:4] == value["numbers"][:4]


class Custom:
    pass


@pytest.mark.parametrize("value", [Custom(), object(), lambda: 1, [1, Custom()], {"k": {Custom()}}])
def test_unstorable_values_are_refused_naming_the_path(value):
    with pytest.raises(TypeError, match="can't be stored"):
        serialization.dumps(value, "argument 'x'")


def test_error_names_the_nested_part():
    with pytest.raises(TypeError, match=r"argument 'x'\[1\]\['k'\] can't be stored: Custom"):
        serialization.dumps([0, {"k": Custom()}], "argument 'x'")


def test_self_reference_is_refused():
    loop: list = []
    loop.append(loop)
    with pytest.raises(TypeError, match="refers to itself"):
        serialization.dumps(loop)


def test_garbage_is_a_value_error():
    with pytest.raises(ValueError, match="can't be read"):
        serialization.loads("{not json")
    with pytest.raises(ValueError, match="can't be read"):
        serialization.loads('{"__autotask__": "nonsense", "v": 1}')
    with pytest.raises(ValueError, match="can't be read"):
        serialization.loads_call("[1, 2]")


def test_no_pickle_anywhere():
    import pathlib

    source = pathlib.Path(serialization.__file__).parent
    for path in source.rglob("*.py"):
        assert "import pickle" not in path.read_text(), path
