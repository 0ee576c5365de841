"""The benchmark project as a WSGI application, for the gunicorn memory scenario: each
gunicorn worker is a Django process, which starts a companion (or shares the host's)."""

from django.core.wsgi import get_wsgi_application

application = get_wsgi_application()
