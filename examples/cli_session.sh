#!/usr/bin/env bash
# A session with the querybase CLI, as an analyst would type it, against the demo shop.
#
#   QUERYBASE_URL=http://127.0.0.1:8000 QUERYBASE_USERNAME=analyst QUERYBASE_PASSWORD=analyst \
#       bash examples/cli_session.sh
#
# QUERYBASE_SOURCE picks the source (default: the demo's "Demo shop (SQLite)"); exports go
# to EXPORT_DIR (default: a temporary directory). The password is read from
# QUERYBASE_PASSWORD, never passed on the command line; the session (tokens only) is kept
# under QUERYBASE_CONFIG_DIR or the user's config directory.
set -euo pipefail

: "${QUERYBASE_URL:?set QUERYBASE_URL}" "${QUERYBASE_USERNAME:?set QUERYBASE_USERNAME}"
SOURCE="${QUERYBASE_SOURCE:-Demo shop (SQLite)}"
EXPORT_DIR="${EXPORT_DIR:-$(mktemp -d)}"
mkdir -p "$EXPORT_DIR"

echo "== sign in, and who am I"
querybase login "$QUERYBASE_URL" --username "$QUERYBASE_USERNAME"
querybase whoami

echo "== what can I read"
querybase sources
querybase schema "$SOURCE"

echo "== a read, as a table and as CSV; \$1 is bound by the server, never spliced"
querybase run "$SOURCE" "SELECT id, name, country FROM customers ORDER BY id LIMIT 5"
querybase run "$SOURCE" --format csv -p US \
    "SELECT count(*) AS customers FROM customers WHERE country = \$1"

echo "== SQL from stdin, named parameters, a value for a script"
orders=$(echo "SELECT count(*) FROM orders WHERE status = :status" \
    | querybase run "$SOURCE" --param status=shipped --format csv | tail -n 1)
echo "shipped orders: $orders"

echo "== every order line to a file, with a progress bar"
querybase export "$SOURCE" "SELECT * FROM order_items ORDER BY id" -o "$EXPORT_DIR/order_items.csv"

echo "== a write is not run: it becomes an approval request (exit status 5)"
status=0
querybase run "$SOURCE" "UPDATE products SET in_stock = 0 WHERE id = 1" --reason "sold out" || status=$?
if [ "$status" -ne 5 ]; then
    echo "expected exit status 5 (approval request created), got $status" >&2
    exit 1
fi
querybase requests --mine --status pending

echo "== what I ran today"
querybase history --limit 5

querybase logout
