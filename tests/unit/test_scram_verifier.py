"""The SCRAM-SHA-256 verifier a sandbox role is created with (apps/sandboxes/engines/postgresql.py):
checked against the exchange of RFC 7677 §3, so a server that checks passwords accepts it."""

import base64
import hashlib
import hmac

from apps.sandboxes.engines.postgresql import scram_verifier

# RFC 7677 §3: user "user", password "pencil".
_SALT = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")
_AUTH_MESSAGE = (
    b"n=user,r=rOprNGfwEbeRWgbNEkqO,"
    b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,"
    b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
)
_CLIENT_PROOF = base64.b64decode("dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
_SERVER_SIGNATURE = base64.b64decode("6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")


def _keys(verifier: str) -> tuple[bytes, bytes]:
    mechanism, rest = verifier.split("$", 1)
    assert mechanism == "SCRAM-SHA-256"
    _, keys = rest.split("$")
    stored_key, server_key = keys.split(":")
    return base64.b64decode(stored_key), base64.b64decode(server_key)


def test_the_verifier_accepts_the_rfc_clients_proof_and_signs_as_the_rfc_server():
    verifier = scram_verifier("pencil", salt=_SALT)
    stored_key, server_key = _keys(verifier)

    client_signature = hmac.digest(stored_key, _AUTH_MESSAGE, "sha256")
    client_key = bytes(a ^ b for a, b in zip(_CLIENT_PROOF, client_signature, strict=True))
    assert hashlib.sha256(client_key).digest() == stored_key  # what the server checks of the client
    assert hmac.digest(server_key, _AUTH_MESSAGE, "sha256") == _SERVER_SIGNATURE
    assert verifier.startswith("SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$")


def test_each_verifier_has_its_own_salt_and_holds_no_password():
    first, second = scram_verifier("pencil"), scram_verifier("pencil")
    assert first != second
    assert "pencil" not in first
