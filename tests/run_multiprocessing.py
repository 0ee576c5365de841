"""A Django process with a companion that forks multiprocessing helpers.

Prints ``parent <companion pid>``, then one line per helper: ``process <companion
pid or none>`` for a ``multiprocessing.Process`` and ``pool <...>`` for a
``ProcessPoolExecutor`` worker, each forked with the fork start method.
"""

import concurrent.futures
import multiprocessing

import django


def companion_of_this_process() -> str:
    from autotask.execution import supervisor

    sup = supervisor.current()
    return str(sup.process.pid) if sup is not None and sup.process is not None else "none"


def report(queue) -> None:
    queue.put(companion_of_this_process())


if __name__ == "__main__":
    django.setup()
    print("parent", companion_of_this_process(), flush=True)
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    process = context.Process(target=report, args=(queue,))
    process.start()
    print("process", queue.get(timeout=60), flush=True)
    process.join(60)
    with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        print("pool", pool.submit(companion_of_this_process).result(timeout=60), flush=True)
