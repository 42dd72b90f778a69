"""The WSGI entry point: `gunicorn wsgi:app`."""

from nootification import create_app

app = create_app()
