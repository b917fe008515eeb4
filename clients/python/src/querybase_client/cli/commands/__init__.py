"""One module per group of commands; each has `register(app)`.

`sandbox` and `audit` commands, once the server has them, are one more module here and
one more line in cli/app.py.
"""
