"""Settings of the gunicorn that bench/api_load.py starts: the app's own, with the bench's URLconf on top."""

from salesai.settings import *  # noqa: F403 - the app's settings, unchanged but for the routes

ROOT_URLCONF = "api_load_urls"
