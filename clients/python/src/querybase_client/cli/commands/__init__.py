"""One module per group of commands; each has `register(app)`, called in cli/app.py."""
