"""Input and output models (SPEC 6.3): dataclasses, pydantic models and ``as_dict()`` classes
as arguments and results, through real workers."""

import datetime as dt
import sys
import textwrap

import pytest

import autotask
from autotask import TaskError, serialization
from autotask.models import Task
from autotask.task import ERROR

from . import tasks_models
from .tasks_models import AddInput, AddOutput, Line, NotJson, Point, Report, Strict

pytestmark = pytest.mark.django_db(transaction=True)

needs_pydantic = pytest.mark.skipif(tasks_models.pydantic is None, reason="pydantic is not installed")

REPORT = Report(
    "nested", lines=[Line("a", dt.date(2026, 1, 2)), Line("b", dt.date(2026, 3, 4))],
    index={"first": Line("a", dt.date(2026, 1, 2))},
)


# -- stored and read back, without a worker ------------------------------------------


@pytest.mark.parametrize(
    "value",
    [AddInput(2, 3), REPORT, Point(1, 2), {"in a dict": [REPORT, (Point(3, 4),)]}],
    ids=["dataclass", "nested dataclasses", "as_dict", "in containers"],
)
def test_models_round_trip_as_their_own_class(value):
    back = serialization.loads(serialization.dumps(value))
    assert back == value
    assert type(back) is type(value)


def test_the_stored_text_names_the_class():
    assert '"c":"tests.tasks_models.AddInput"' in serialization.dumps(AddInput(1, 2))


@needs_pydantic
def test_pydantic_models_round_trip_nested():
    person = tasks_models.Person(name="Ada", addresses=[tasks_models.Address(city="Bonn", since=dt.date(2020, 5, 1))])
    back = serialization.loads(serialization.dumps({"people": [person]}))["people"][0]
    assert back == person and type(back) is tasks_models.Person
    assert type(back.addresses[0]) is tasks_models.Address and back.addresses[0].since == dt.date(2020, 5, 1)


def test_a_model_that_is_not_json_is_refused_at_call_time_naming_the_argument():
    with pytest.raises(TypeError, match=r"argument 'value'\.handle can't be stored: it is an instance of object"):
        tasks_models.echo(NotJson())
    assert not Task.objects.exists()


def test_a_local_class_is_refused_at_call_time():
    from dataclasses import dataclass

    @dataclass
    class Local:
        x: int

    with pytest.raises(TypeError, match="argument 'value' can't be stored: the class .*Local is defined inside a function"):
        tasks_models.echo(Local(1))


def test_as_dict_must_return_a_dict():
    class Bad:
        def as_dict(self):
            return [1]

    with pytest.raises(TypeError, match=r"as_dict\(\) must return a dict"):
        serialization.dumps(Bad(), "argument 'x'")


# -- through a worker -----------------------------------------------------------------


def test_the_lilota_example_by_name(processes):
    """lilota's quick example: ``add(data: AddInput) -> AddOutput``, scheduled by name; the
    worker has not imported the task's module (it finds it by the stored dotted path)."""
    handle = autotask.enqueue("add", AddInput(a=2, b=3))
    processes.worker()
    output = handle.wait(timeout=60)
    assert output == AddOutput(sum=5) and type(output) is AddOutput
    assert handle.result == AddOutput(sum=5)
    assert handle.name == "add"


def test_nested_models_as_arguments_and_results(processes):
    handles = [tasks_models.echo(REPORT), tasks_models.echo({"points": [Point(1, 2)]}), tasks_models.describe(Point(5, 6))]
    processes.worker()
    assert handles[0].wait(timeout=60) == REPORT
    assert type(handles[0].result.lines[1]) is Line
    assert handles[1].wait(timeout=60) == {"points": [Point(1, 2)]}
    assert handles[2].wait(timeout=60)["type"] == "Point"  # the worker got a Point, not a dict


@needs_pydantic
def test_pydantic_through_a_worker(processes):
    person = tasks_models.Person(name="Ada", addresses=[tasks_models.Address(city="Bonn", since=dt.date(2020, 5, 1))])
    handle = tasks_models.echo(person)
    processes.worker()
    assert handle.wait(timeout=60) == person
    assert type(handle.result.addresses[0]) is tasks_models.Address


def test_a_class_the_worker_cant_import_ends_the_task_in_error_naming_it(processes, tmp_path, monkeypatch):
    (tmp_path / "models_only_here.py").write_text(textwrap.dedent("""
        from dataclasses import dataclass

        @dataclass
        class Elsewhere:
            x: int
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    import models_only_here

    try:
        handle = tasks_models.echo(models_only_here.Elsewhere(1))
        refused = tasks_models.echo(Strict(1))
        processes.worker(STRICT_REFUSES="1")
        with pytest.raises(TaskError, match="the class models_only_here.Elsewhere of a stored model can't be imported"):
            handle.wait(timeout=60)
        with pytest.raises(TaskError, match=r"the class tests.tasks_models.Strict refused the stored fields \['value'\]"):
            refused.wait(timeout=60)
        assert handle.status == ERROR and refused.status == ERROR
    finally:
        sys.modules.pop("models_only_here", None)


@needs_pydantic
def test_pydantic_inside_a_dataclass_and_a_dataclass_inside_pydantic():
    person = tasks_models.Person(name="Ada")
    value = [Report("r", lines=[Line("x", dt.date(2020, 1, 1))]), {"person": person}]
    back = serialization.loads(serialization.dumps(value))
    assert back == value and type(back[1]["person"]) is tasks_models.Person
