from django.db import models


class Note(models.Model):
    """Rows that tasks write, so tests can see what ran and how often."""

    key = models.CharField(max_length=100)
    value = models.CharField(max_length=255, blank=True)
    pid = models.IntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
