"""Tasks on model instances (``@delayed_task`` on a model method), ``autotask.history(obj)``,
and djangotasks' ``after=["other_method"]`` rule, with real workers."""


import threading

import pytest
from django.db import connection, models, transaction
from django.db import connections as db_connections
from django.test.utils import CaptureQueriesContext

import autotask
from autotask.models import Task
from autotask.task import BLOCKED, CANCELLED, ERROR, WAITING
from autotask.tasks import DelayedTask, delayed_task

from .conftest import wait_until
from .models import Article, Document, FeaturedArticle, Note, Tag
from .otherapp.models import Report

pytestmark = pytest.mark.django_db(transaction=True)


def finished(*handles, timeout=90):
    wait_until(lambda: all(h.ready for h in handles), timeout=timeout, message=f"{len(handles)} tasks to finish")


def notes(obj):
    return list(Note.objects.filter(key=f"{obj._meta.label_lower}:{obj.pk}").order_by("id").values_list("value", flat=True))


def test_a_method_call_stores_the_object_and_returns_a_handle():
    article = Article.objects.create(title="a")
    handle = article.long_task("!")
    assert isinstance(handle, DelayedTask) and handle.status == WAITING
    row = Task.objects.get(pk=handle.id)
    assert (row.function, row.object_model, row.object_id) == ("tests.models.Article.long_task", "tests.article", str(article.pk))
    assert Article.long_task.run_inline(article, "?") == "a?"  # the plain method, here and now
    assert article.long_task.run_inline("?") == "a?"


def test_bad_calls_fail_at_call_time():
    with pytest.raises(ValueError, match="has no primary key yet"):
        Article(title="unsaved").long_task()
    with pytest.raises(TypeError):
        Article.objects.create(title="a").long_task(1, 2, 3)
    with pytest.raises(TypeError, match="argument 'words'"):
        Document.objects.create(name="d").index(object())
    with pytest.raises(TypeError, match=r"call it on one, obj.long_task\(...\)"):
        Article.long_task(Article.objects.create(title="b"))
    assert not Task.objects.exists()


def _method(name, qualname):
    """A function as a class body would define it (a test can't define one at module level that fails)."""

    def method(self):
        pass

    method.__name__, method.__qualname__ = name, qualname
    return method


def test_a_method_of_a_class_that_is_not_a_model_is_refused():
    work = delayed_task()(_method("work", "NotAModel.work"))
    with pytest.raises((TypeError, RuntimeError)) as caught:
        type("NotAModel", (), {"work": work, "__module__": __name__})
    error = caught.value.__cause__ or caught.value  # Python < 3.12 wraps errors of __set_name__
    assert "methods can be tasks only on Django models" in str(error)


def test_after_names_a_method_that_is_not_a_task():
    with pytest.raises(ValueError, match="after= names methods of the same model"):
        delayed_task(after=["other"])(_method("plain", "plain"))
    with pytest.raises(TypeError, match="takes a list of method names"):
        delayed_task(after="run_first")

    class Meta:
        app_label = "tests"

    body = {
        "__module__": __name__, "Meta": Meta, "helper": _method("helper", "BadAfter.helper"),
        "work": delayed_task(after=["helper"])(_method("work", "BadAfter.work")),
    }
    BadAfter = type("BadAfter", (models.Model,), body)
    with pytest.raises(ValueError, match="'helper' is not a @delayed_task method of BadAfter"):
        BadAfter(pk=1).work()


def test_method_tasks_run_on_each_key_type_another_app_and_a_proxy(processes):
    article = Article.objects.create(title="int")
    document = Document.objects.create(name="uuid")
    tag = Tag.objects.create(slug="text-key")
    report = Report.objects.create(title="other app")
    featured = FeaturedArticle.objects.create(title="proxy")
    handles = [article.long_task("!"), document.index(["a", "b", "c"]), tag.count(), report.render(3), featured.feature()]
    assert Task.objects.get(pk=handles[1].id).object_id == str(document.pk)
    processes.worker()
    finished(*handles)
    assert [h.result for h in handles] == ["int!", 3, "TEXT-KEY", "otherapp.Report other app x3", "FeaturedArticle"]
    assert notes(article) == ["long_task int!"] and notes(report) == ["other app x3"]


def test_the_object_is_loaded_afresh_in_the_worker(processes):
    article = Article.objects.create(title="old")
    handle = article.long_task()
    Article.objects.filter(pk=article.pk).update(title="new")
    processes.worker()
    assert handle.wait(timeout=60) == "new"


def test_a_deleted_object_ends_error(processes):
    document = Document.objects.create(name="gone")
    handle = document.index(["x"])
    key = document.pk
    document.delete()
    processes.worker()
    finished(handle)
    assert handle.status == ERROR
    assert handle.error_message == f"tests.Document object with primary key {str(key)!r} no longer exists" or (
        handle.error_message == f"tests.Document object with primary key {key!r} no longer exists"
    )


def test_history_newest_first_for_that_object_only():
    article, other = Article.objects.create(title="a"), Article.objects.create(title="b")
    first = article.long_task()
    other.long_task()
    second = article.run_first()
    third = FeaturedArticle.objects.get(pk=article.pk).feature()  # the same row through its proxy
    assert autotask.history(article) == [third, second, first]
    assert autotask.history(Tag(slug="never")) == []
    with pytest.raises(ValueError, match="no primary key"):
        autotask.history(Article(title="unsaved"))


def test_history_is_one_index_lookup(django_assert_num_queries):
    article = Article.objects.create(title="a")
    article.long_task()
    with django_assert_num_queries(1):
        autotask.history(article)


def test_history_reads_the_partial_object_index():
    """The index skips the tasks of no object where the database can (PostgreSQL, SQLite);
    history()'s query must still be able to use it there."""
    if connection.vendor == "mysql":
        pytest.skip("MySQL/MariaDB have no partial indexes: the index covers every row")
    article = Article.objects.create(title="a")
    article.long_task()
    with CaptureQueriesContext(connection) as queries:
        autotask.history(article)
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL enable_seqscan = off")  # a table this small would be scanned anyway
            cursor.execute("EXPLAIN " + queries[0]["sql"])
        else:
            cursor.execute("EXPLAIN QUERY PLAN " + queries[0]["sql"])
        plan = " ".join(str(column) for row in cursor.fetchall() for column in row)
    assert "autotask_task_object" in plan


def test_a_commit_of_another_connection_between_the_rules_read_and_its_insert_fails_nothing(monkeypatch):
    """The rule reads before it stores: on SQLite a deferred transaction could not write after
    another connection committed in between ("database is locked"; seen in CI). Another
    connection writes right after the read, from another thread: it waits for the call's
    commit (or, where the database allows it, commits at once), and both rows are stored."""
    from autotask.instances import BoundMethodTask

    article = Article.objects.create(title="a")
    first = article.run_first()
    read = BoundMethodTask._ran_first
    writer = threading.Thread(target=lambda: (Note.objects.create(key="other", value="x"), db_connections.close_all()))

    def read_then_another_commits(self, other, model, key):
        found = read(self, other, model, key)
        writer.start()
        writer.join(timeout=1)  # SQLite: blocked until this call commits; elsewhere: done
        return found

    monkeypatch.setattr(BoundMethodTask, "_ran_first", read_then_another_commits)
    then = article.run_then()
    writer.join(timeout=60)
    assert not writer.is_alive()
    assert then.dependencies == [first] and Task.objects.get(pk=then.id).status == BLOCKED
    assert Note.objects.filter(key="other").count() == 1


def test_the_djangotasks_rule_stores_the_first_method_and_waits_for_it(processes):
    article = Article.objects.create(title="a")
    then = article.run_then()
    [first] = then.dependencies
    assert Task.objects.get(pk=then.id).status == BLOCKED and first.status == WAITING
    assert autotask.history(article) == [then, first]
    again = article.run_then()  # the first one is still waiting: it is not stored twice
    assert again.dependencies == [first]
    processes.worker()
    finished(then, again)
    assert notes(article) == ["first", "then", "then"]
    # It ended DONE for this object: it is not run again.
    last = article.run_then()
    assert last.dependencies == [] and Task.objects.get(pk=last.id).dependencies_left is None  # stored plain
    finished(last)
    assert notes(article) == ["first", "then", "then", "then"]
    # Another object has its own.
    other = Article.objects.create(title="b")
    assert len(other.run_then().dependencies) == 1


def test_the_djangotasks_rule_a_failed_first_method_cancels(processes):
    article = Article.objects.create(title="fail first")
    then = article.run_then()
    processes.worker()
    finished(then)
    assert then.status == CANCELLED and then.dependencies[0].status == ERROR
    assert then.error_message.startswith(f"cancelled: its dependency {then.dependencies[0].id} (tests.models.Article.run_first)")
    assert notes(article) == ["first"]
    # A failed record doesn't count as DONE: the next call stores the first method again.
    retry = article.run_then()
    assert retry.dependencies[0] != then.dependencies[0]


def test_a_method_task_as_a_dependency_and_with_using(processes):
    article = Article.objects.create(title="a")
    first = article.long_task()
    then = article.long_task.using(after=[first], priority=5)("?")
    assert Task.objects.get(pk=then.id).priority == 5
    processes.worker()
    finished(then)
    assert notes(article) == ["long_task a", "long_task a?"]


# -- the admin ------------------------------------------------------------------------------


@pytest.fixture
def superuser_client(client):
    from django.contrib.auth.models import User

    client.force_login(User.objects.create_superuser("admin", "a@example.com", "pw"))
    return client


def test_an_admin_action_starts_a_method_task_for_each_selected_object(superuser_client):
    from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
    from django.urls import reverse

    articles = [Article.objects.create(title=str(i)) for i in range(3)]
    response = superuser_client.post(
        reverse("admin:tests_article_changelist"),
        {"action": "run_long_task", ACTION_CHECKBOX_NAME: [a.pk for a in articles[:2]]}, follow=True,
    )
    assert "Started long_task for 2 articles." in response.content.decode()
    assert [len(autotask.history(a)) for a in articles] == [1, 1, 0]


def test_the_task_page_shows_the_object_dependencies_and_dependents(superuser_client):
    from django.urls import reverse

    article = Article.objects.create(title="a")
    then = article.run_then()
    [first] = then.dependencies
    page = superuser_client.get(reverse("admin:autotask_task_change", args=[then.id])).content.decode()
    assert f'<a href="{reverse("admin:tests_article_change", args=[article.pk])}">tests.article {article.pk}</a>' in page
    assert f'<a href="{reverse("admin:autotask_task_change", args=[first.id])}">{first.id}</a>' in page
    first_page = superuser_client.get(reverse("admin:autotask_task_change", args=[first.id])).content.decode()
    assert f'<a href="{reverse("admin:autotask_task_change", args=[then.id])}">{then.id}</a>' in first_page
    listed = superuser_client.get(reverse("admin:autotask_task_changelist"), {"status__exact": BLOCKED})
    assert listed.context["cl"].result_count == 1 and "Waiting for dependencies" in listed.content.decode()
    # A model without an admin page: its name and key, no link.
    tag_page = superuser_client.get(reverse("admin:autotask_task_change", args=[Tag.objects.create(slug="t").count().id]))
    assert "tests.tag t" in tag_page.content.decode()
