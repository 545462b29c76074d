"""The usual Python alternative, for bench/defaults.py: Django REST framework with
djangorestframework-api-key, one endpoint behind `HasAPIKey`.

Installed from PyPI into a venv of its own by the benchmark (never a dependency of
keyplane). `python drf_app.py setup` migrates the SQLite database named by DRF_DB and
prints a new API key; `gunicorn drf_app:application` serves `GET /items`.
"""

from __future__ import annotations

import os
import sys

import django
from django.conf import settings

settings.configure(
    DEBUG=False, SECRET_KEY="bench-only-" + "x" * 40, ALLOWED_HOSTS=["*"], ROOT_URLCONF=__name__,
    INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "rest_framework",
                    "rest_framework_api_key"],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.environ["DRF_DB"]}},
    MIDDLEWARE=[], USE_TZ=True,
    REST_FRAMEWORK={"DEFAULT_AUTHENTICATION_CLASSES": [],
                    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"]},
)
django.setup()

from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.urls import path  # noqa: E402
from rest_framework.response import Response  # noqa: E402
from rest_framework.views import APIView  # noqa: E402
from rest_framework_api_key.permissions import HasAPIKey  # noqa: E402


class Items(APIView):
    permission_classes = [HasAPIKey]

    def get(self, request):  # type: ignore[no-untyped-def]
        return Response({"items": [1, 2, 3]})


urlpatterns = [path("items", Items.as_view())]
application = get_wsgi_application()

if __name__ == "__main__" and sys.argv[1:] == ["setup"]:
    from django.core.management import call_command
    from rest_framework_api_key.models import APIKey

    call_command("migrate", verbosity=0)
    _, key = APIKey.objects.create_key(name="bench")
    print(key)
