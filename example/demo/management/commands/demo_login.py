"""``python manage.py demo_login``: the demo's admin login (user demo, password demo), made or reset."""

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand

USERNAME = PASSWORD = "demo"


class Command(BaseCommand):
    help = "Create (or reset) the demo's superuser: user demo, password demo. For the local demo only."

    def handle(self, *args, **options):
        user = User.objects.filter(username=USERNAME).first() or User(username=USERNAME, email="demo@example.com")
        user.is_staff = user.is_superuser = user.is_active = True
        user.set_password(PASSWORD)
        user.save()
        self.stdout.write(f"Admin login: user {USERNAME}, password {PASSWORD}")
