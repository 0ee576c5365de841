from autotask.tasks import cron_task, delayed_task, periodic_task


@delayed_task(retries=2)
def add(a, b):
    return a + b


@delayed_task()
def divide(a, b):
    return a / b


@periodic_task(seconds=600)
def clean_up():
    ...


@cron_task(crontab="30 7 0 * *")   # Mondays at 07:30, in autotask 0.5's order (minutes hours dow months dom)
def send_newsletter():
    ...
