"""Credentials at rest: AES-256-GCM with a key id, and rotation to a new key."""

import base64

import pytest
from django.core.management import call_command
from django.db import connection

from apps.audit.models import AuditEvent
from apps.datasources.crypto import (
    CredentialDecryptionError,
    current_key,
    decrypt_secret,
    encrypt_secret,
    generate_key,
)
from apps.datasources.models import DataSource
from tests.support.factories import make_datasource

PASSWORD = "s3cr3t-Pa55word!"


def test_round_trip_and_ciphertext_reveals_nothing():
    stored = encrypt_secret(PASSWORD, "datasource.password")
    assert decrypt_secret(stored, "datasource.password") == PASSWORD
    version, key_id, blob = stored.split(":")
    assert (version, key_id) == ("v1", current_key().key_id)
    assert PASSWORD not in stored
    assert PASSWORD.encode() not in base64.b64decode(blob)


def test_same_password_encrypts_differently_each_time():
    assert encrypt_secret(PASSWORD, "p") != encrypt_secret(PASSWORD, "p")


def test_tampered_ciphertext_is_refused():
    version, key_id, blob = encrypt_secret(PASSWORD, "p").split(":")
    raw = bytearray(base64.b64decode(blob))
    raw[-1] ^= 1
    with pytest.raises(CredentialDecryptionError):
        decrypt_secret(f"{version}:{key_id}:{base64.b64encode(raw).decode()}", "p")


def test_ciphertext_moved_to_another_field_is_refused():
    stored = encrypt_secret(PASSWORD, "datasource.password")
    with pytest.raises(CredentialDecryptionError):
        decrypt_secret(stored, "datasource.read_password")


def test_unknown_key_id_says_what_to_configure(settings):
    stored = encrypt_secret(PASSWORD, "p")
    settings.QUERYBASE_ENCRYPTION_KEY = generate_key()
    with pytest.raises(CredentialDecryptionError, match="QUERYBASE_PREVIOUS_ENCRYPTION_KEYS"):
        decrypt_secret(stored, "p")


@pytest.mark.django_db
def test_stored_row_holds_only_ciphertext():
    source = make_datasource("shop", engine="postgresql", host="db", database="shop", password=PASSWORD)
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM datasources_datasource WHERE id = %s", [source.id])
        row = cursor.fetchone()
    assert not any(PASSWORD in str(value) for value in row)
    assert DataSource.objects.get(pk=source.pk).get_password() == PASSWORD


@pytest.mark.django_db
def test_rotation_reencrypts_every_secret_under_the_new_key(settings, capsys):
    source = make_datasource(
        "shop", engine="postgresql", host="db", database="shop", password=PASSWORD, read_username="reader"
    )
    source.set_read_password("read-only-pw")
    source.save()
    old_key, old_key_id = settings.QUERYBASE_ENCRYPTION_KEY, current_key().key_id

    settings.QUERYBASE_ENCRYPTION_KEY = generate_key()
    settings.QUERYBASE_PREVIOUS_ENCRYPTION_KEYS = [old_key]
    call_command("rotate_encryption_key")

    assert "Re-encrypted 2 secret(s)" in capsys.readouterr().out
    source.refresh_from_db()
    new_key_id = current_key().key_id
    assert new_key_id != old_key_id
    assert source.password_encrypted.split(":")[1] == new_key_id
    assert source.read_password_encrypted.split(":")[1] == new_key_id
    # Once rotated, the old key can go: the secrets still decrypt.
    settings.QUERYBASE_PREVIOUS_ENCRYPTION_KEYS = []
    assert source.get_password() == PASSWORD
    assert source.get_read_password() == "read-only-pw"
    assert AuditEvent.objects.filter(action="datasource.keys_rotated").exists()
    # A second run has nothing left to do.
    call_command("rotate_encryption_key")
    assert "Re-encrypted 0 secret(s)" in capsys.readouterr().out


@pytest.mark.django_db
def test_rotation_without_the_old_key_changes_nothing(settings):
    source = make_datasource("shop", engine="postgresql", host="db", database="shop", password=PASSWORD)
    before = source.password_encrypted
    settings.QUERYBASE_ENCRYPTION_KEY = generate_key()
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="Nothing was changed"):
        call_command("rotate_encryption_key")
    source.refresh_from_db()
    assert source.password_encrypted == before
