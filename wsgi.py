"""The WSGI entry point: `gunicorn wsgi:app`."""

from nootification import create_app
from nootification.garbage_collection import freeze_start_up_objects

app = create_app()
freeze_start_up_objects()
