from django.db import models


class Note(models.Model):
    """Rows that tasks write, so tests can see what ran and how often."""

    key = models.CharField(max_length=100)
    value = models.CharField(max_length=255, blank=True)
    pid = models.IntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)


# -- models with method tasks (autotask.instances; tests/test_instances.py) ---------------------

import os  # noqa: E402
import uuid  # noqa: E402

from autotask.tasks import delayed_task  # noqa: E402


def _note(obj, value):
    Note.objects.create(key=f"{obj._meta.label_lower}:{obj.pk}", value=value, pid=os.getpid())


class Article(models.Model):
    """Integer key; the djangotasks examples: long_task, run_first / run_then."""

    title = models.CharField(max_length=100)

    @delayed_task()
    def long_task(self, suffix=""):
        _note(self, f"long_task {self.title}{suffix}")
        return f"{self.title}{suffix}"

    @delayed_task()
    def run_first(self):
        _note(self, "first")
        if self.title == "fail first":
            raise ValueError("first failed")

    @delayed_task(after=["run_first"])
    def run_then(self):
        _note(self, "then")
        return "then"

    @delayed_task()
    def slow(self, seconds):
        _note(self, "slow started")
        import time

        time.sleep(seconds)


class FeaturedArticle(Article):
    """A proxy model with a method task of its own."""

    class Meta:
        proxy = True

    @delayed_task()
    def feature(self):
        _note(self, f"featured {self.title}")
        return type(self).__name__


class Document(models.Model):
    """UUID key."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    name = models.CharField(max_length=100)

    @delayed_task(retries=0)
    def index(self, words):
        _note(self, f"index {self.name}")
        return len(words)


class Tag(models.Model):
    """String key."""

    slug = models.CharField(max_length=50, primary_key=True)

    @delayed_task()
    def count(self):
        _note(self, f"count {self.slug}")
        return self.slug.upper()
