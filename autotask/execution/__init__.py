"""The execution layer: worker processes that claim, run and record tasks.

A call travels: stored row (``autotask.queue``) -> wake-up (``wakeup``) ->
the worker loop claims it (``loop``) -> a slot runs it (``slots``; with a
timeout, in the slot's runner process, ``runner``) -> its outcome is recorded
(``outcomes``). Beside the loop: ``interrupts`` (cancel, timeout, stop
grace), ``heartbeat`` (the worker's lease, cancel requests), ``maintenance``
(lost workers' tasks, expired tasks, recycling). ``supervisor`` starts,
watches and restarts the companion worker of a Django process, whose entry
point is ``process``.

Importing this package imports nothing else: the app config imports
``supervisor`` alone.
"""
