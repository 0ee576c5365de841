"""Django's tasks framework on autotask: ``TASKS = {"default": {"BACKEND": "autotask.backends.AutotaskBackend"}}``.

An adapter on top of the engine: it stores through ``autotask.queue``, is run
by the same workers through ``autotask.definitions``' adapters, and sends
Django's task signals from receivers of ``autotask.signals``. Nothing outside
this package imports it.
"""

from .backend import AutotaskBackend

__all__ = ["AutotaskBackend"]
