"""Re-encrypt stored credentials under the current QUERYBASE_ENCRYPTION_KEY.

Rotation: move the old key to QUERYBASE_PREVIOUS_ENCRYPTION_KEYS, set a new
QUERYBASE_ENCRYPTION_KEY (`manage.py rotate_encryption_key --generate` prints one),
restart, run this command, then drop the old key.
"""

from django.core.management.base import BaseCommand, CommandError

from apps.datasources.crypto import CredentialDecryptionError, current_key, generate_key
from apps.datasources.services import rotate_encryption_keys


class Command(BaseCommand):
    help = "Re-encrypt data source credentials under the current encryption key."

    def add_arguments(self, parser):
        parser.add_argument("--generate", action="store_true", help="Only print a new random key and exit.")

    def handle(self, *args, generate: bool = False, **options):
        if generate:
            self.stdout.write(generate_key())
            return
        try:
            rotated = rotate_encryption_keys()
        except CredentialDecryptionError as error:
            raise CommandError(f"Nothing was changed: {error}") from error
        self.stdout.write(f"Re-encrypted {rotated} secret(s) under key {current_key().key_id}.")
