from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Print whether this process started a companion worker (a user's own command: it must not)."

    def handle(self, *args, **options):
        from autotask.execution import supervisor

        self.stdout.write(f"companion={supervisor.current() is not None}")
