"""Encryption at rest for data source credentials: AES-256-GCM under a key from the environment.

A stored secret is `v1:<key id>:<base64(nonce || ciphertext+tag)>`. The key id is derived
from the key itself (a short SHA-256 prefix), so a key can never be paired with the
wrong id and rotation needs no extra bookkeeping: secrets whose id is not the current
key's are re-encrypted by `manage.py rotate_encryption_key`.
"""

import base64
import binascii
import hashlib
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from querybase.errors import QueryBaseError

FORMAT_VERSION = "v1"
NONCE_BYTES = 12


class CredentialDecryptionError(QueryBaseError):
    """A stored secret cannot be decrypted: unknown key id, wrong key or tampered data."""

    code = "credentials_unreadable"

    def __init__(self, message: str):
        super().__init__(message)


@dataclass(frozen=True)
class EncryptionKey:
    key_id: str
    aesgcm: AESGCM


def _load_key(encoded: str) -> EncryptionKey:
    try:
        raw = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError) as error:
        raise ImproperlyConfigured("encryption keys must be base64 (of 32 random bytes)") from error
    if len(raw) != 32:
        raise ImproperlyConfigured(f"encryption keys must be 32 bytes for AES-256, got {len(raw)}")
    return EncryptionKey(key_id=hashlib.sha256(raw).hexdigest()[:12], aesgcm=AESGCM(raw))


def current_key() -> EncryptionKey:
    return _load_key(settings.QUERYBASE_ENCRYPTION_KEY)


def known_keys() -> dict[str, EncryptionKey]:
    """Every key that may decrypt: the current one and those being rotated out."""
    keys = [_load_key(encoded) for encoded in settings.QUERYBASE_PREVIOUS_ENCRYPTION_KEYS]
    keys.append(current_key())
    return {key.key_id: key for key in keys}


def generate_key() -> str:
    """A new random key, in the form QUERYBASE_ENCRYPTION_KEY expects."""
    return base64.b64encode(os.urandom(32)).decode()


def encrypt_secret(plaintext: str, purpose: str) -> str:
    """Encrypt under the current key. `purpose` is bound as associated data, so a
    ciphertext copied into another field (say, from a password to a username) fails."""
    key = current_key()
    nonce = os.urandom(NONCE_BYTES)
    sealed = key.aesgcm.encrypt(nonce, plaintext.encode(), purpose.encode())
    return f"{FORMAT_VERSION}:{key.key_id}:{base64.b64encode(nonce + sealed).decode()}"


def key_id_of(stored: str) -> str:
    parts = stored.split(":", 2)
    if len(parts) != 3 or parts[0] != FORMAT_VERSION:
        raise CredentialDecryptionError("stored secret is not in a known format")
    return parts[1]


def decrypt_secret(stored: str, purpose: str) -> str:
    key_id = key_id_of(stored)
    key = known_keys().get(key_id)
    if key is None:
        raise CredentialDecryptionError(
            f"no configured key has id {key_id}: set it in QUERYBASE_PREVIOUS_ENCRYPTION_KEYS"
        )
    try:
        blob = base64.b64decode(stored.split(":", 2)[2], validate=True)
        plaintext = key.aesgcm.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], purpose.encode())
    except (binascii.Error, ValueError, InvalidTag) as error:
        raise CredentialDecryptionError("stored secret failed authentication (wrong key or tampered)") from error
    return plaintext.decode()


def needs_rotation(stored: str) -> bool:
    return bool(stored) and key_id_of(stored) != current_key().key_id
