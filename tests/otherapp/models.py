import os

from django.db import models

from autotask.tasks import delayed_task


class Report(models.Model):
    title = models.CharField(max_length=100)

    @delayed_task()
    def render(self, pages):
        from tests.models import Note

        Note.objects.create(key=f"{self._meta.label_lower}:{self.pk}", value=f"{self.title} x{pages}", pid=os.getpid())
        return f"{self._meta.label} {self.title} x{pages}"
