"""The SQL core: scanning, read/write classification and parameter binding.

Everything QueryBase decides from the text of SQL alone lives here, and this package
imports nothing from Django or from the rest of QueryBase, so it can be read, tested and
reused on its own (`python -c "from apps.sqlcore.classification import classify_sql"`
needs no settings). The modules, from the bottom up:

- `dialect`: the one enum of SQL dialects (a data source's engine is one of them).
- `sqltext`: the scanner (tokens, statements, placeholders) for each dialect.
- `invisible`, `risk`: hidden characters and the risk scale.
- `function_effects`: what calling a function can do, from the engines' own catalogs.
- `tables`: the tables and functions a statement names.
- `rules`: the statement-level rule tables the classifier applies.
- `classification`: the fail-closed read/write verdict.
- `credential_reads`: reads that would return credential material.
- `statements`, `parameters`: binding API parameters in the driver's placeholder style.
- `errors`: what the core raises, each error with a stable code.
"""
