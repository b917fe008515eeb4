"""Database backends of the metadata database (Django's, adjusted: see each)."""
