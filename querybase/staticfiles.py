"""How static files are stored and named: hashed names, gzip and brotli copies (WhiteNoise).

collectstatic gives every file a name with its content's hash (`workspace.3f9c0e1a2b4d.js`)
and compressed copies beside it; WhiteNoise serves those names with a cache lifetime of
years (`immutable`), since a changed file gets a new name, and picks the compressed copy the
browser accepts. Pages name files through `{% static %}`, which looks the hashed name up in
the manifest collectstatic wrote.
"""

from django.conf import settings
from whitenoise.storage import CompressedManifestStaticFilesStorage


class HashedStaticFilesStorage(CompressedManifestStaticFilesStorage):
    def stored_name(self, name: str) -> str:
        # The embedded default (`manage.py runserver` with nothing configured) serves files
        # straight from their sources through WhiteNoise's finders, and may run before any
        # collectstatic: then there is no manifest, and the plain name is the file's name.
        # A deployment has no finders: a missing manifest stays an error there.
        if not self.hashed_files and settings.WHITENOISE_USE_FINDERS:
            return name
        return super().stored_name(name)
