"""The test project as a WSGI application, for a real gunicorn in the companion tests."""

from django.core.wsgi import get_wsgi_application

application = get_wsgi_application()
