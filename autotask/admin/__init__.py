"""autotask in Django's admin: tasks, schedules and workers with their actions, and the dashboard.

An adapter over the engine: the actions call ``autotask.operations``, the dashboard
``autotask.overview``; nothing outside this package imports it. Its templates are in
``autotask/templates/admin/autotask/``, its script and styles in ``autotask/static/autotask/``.
"""

from . import dashboard, schedules, tasks, workers  # noqa: F401  (each registers its ModelAdmin)
