"""The `querybase` command line, built on the SDK."""
