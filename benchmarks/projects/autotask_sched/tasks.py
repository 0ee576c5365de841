from autotask.tasks import periodic_task


@periodic_task(seconds=1)
def every_second():
    return None
