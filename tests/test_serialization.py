import datetime as dt
import enum
import json
import uuid
from decimal import Decimal

import pytest
from django.db.models import QuerySet
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy

from autotask import serialization
from autotask.tasks import DelayedTask
from tests.models import Note

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
    with pytest.raises(TypeError, match=r"argument 'x'\[1\]\['k'\] can't be stored: it is an instance of .*Custom"):
        serialization.dumps([0, {"k": Custom()}], "argument 'x'")


class Color(enum.IntEnum):
    RED = 1


def module_function():
    pass


UNSTORABLE = [  # (value, what the message says it is, what it says would work)
    (Note(pk=7, key="k"), "a model instance (Note)", "use its primary key (.pk)"),
    (Note.objects.all(), "a QuerySet", "list(queryset.values_list('pk', flat=True))"),
    (DelayedTask(str(uuid.uuid4())), "a task handle (DelayedTask)", "use handle.id (a str;"),
    (lambda: 1, "a lambda", "the data it works on, or the dotted path"),
    (module_function, "the function tests.test_serialization.module_function",
     "'tests.test_serialization.module_function') and import it where it runs"),
    (module_function, "the function", "decorate it with @delayed_task"),
    (Custom, "the class tests.test_serialization.Custom", "use its dotted path as a str"),
    (Color.RED, "<Color.RED: 1>, an enum member", "use its .value (1)"),
    (mark_safe("x"), "an instance of SafeString, a subclass of str", "use str(value)"),
    (gettext_lazy("x"), "a lazy translation string", "use str(value)"),
    (object(), "an instance of object", "the storable types are None, bool, int"),
    (Custom(), "an instance of Custom", "store its data as those"),
]


@pytest.mark.parametrize("value, given, advice", UNSTORABLE, ids=[case[1] for case in UNSTORABLE])
def test_the_message_says_what_was_given_and_what_would_work(value, given, advice):
    with pytest.raises(TypeError) as caught:
        serialization.dumps({"k": value}, "argument 'x'")
    message = str(caught.value)
    assert message.startswith("argument 'x'['k'] can't be stored: it is ")
    assert given in message and advice in message
    # The primary key advice only for model instances (and querysets of them).
    assert ("primary key" in message) == isinstance(value, (Note, QuerySet))


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
