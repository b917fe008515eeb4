"""An application that does nothing, for `make bench`'s HTTP figures: served by the shipped
gunicorn configuration, it measures what the server costs with no Django at all."""

_BODY = b'{"status": "ok"}'
_HEADERS = [("Content-Type", "application/json"), ("Content-Length", str(len(_BODY)))]


def application(environ, start_response):
    start_response("200 OK", _HEADERS)
    return [_BODY]
