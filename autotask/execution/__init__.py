"""The execution layer: worker processes that claim, run and record tasks.

A call travels: stored row (``autotask.queue``) -> wake-up (``wakeup``) ->
the worker loop claims it for a free slot (``loop``) -> the slot's thread
runs it (``slots``; in ``run.running()``, the context of every run; with a
timeout, in the slot's runner process, ``runner``) -> the loop records its
outcome (``outcomes``). Beside the loop: ``interrupts`` (cancel, timeout,
stop grace, giving up a stuck run), ``heartbeat`` (the lease, cancel
requests), ``maintenance`` (lost workers' tasks, expired tasks, recycling).

Processes: ``pool`` is run_autotask's supervisor of forked worker
processes; ``supervisor`` starts, watches and restarts the companion of a
Django process (or of the host, ``hostscope``), whose entry point is
``process``; ``child`` holds what both kinds of supervisor share.
``run.run_task()`` runs one claimed task and records it outside any loop.

Importing this package imports nothing else: the app config imports
``supervisor`` alone.
"""
