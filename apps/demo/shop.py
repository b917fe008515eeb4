"""A small, realistic shop database for the embedded demo data source.

Deterministic (fixed seed), so every demo install shows the same numbers.
"""

import random
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

CUSTOMERS = 500
PRODUCTS = 120
ORDERS = 2500

_FIRST = [
    "Ada",
    "Ben",
    "Chloé",
    "Dmitri",
    "Elif",
    "Farah",
    "Goran",
    "Hana",
    "Ivan",
    "Jun",
    "Kofi",
    "Lena",
    "Mateo",
    "Nora",
    "Omar",
    "Priya",
    "Quentin",
    "Rosa",
    "Sven",
    "Tariq",
    "Uma",
    "Viktor",
    "Wen",
    "Yara",
]
_LAST = [
    "Okafor",
    "Schmidt",
    "García",
    "Nguyen",
    "Rossi",
    "Kowalski",
    "Haddad",
    "Tanaka",
    "Silva",
    "Dubois",
    "Novak",
    "Larsen",
    "Mehta",
    "O'Brien",
    "Ivanova",
    "Kim",
]
_COUNTRIES = ["DE", "FR", "GB", "US", "NL", "ES", "IT", "PL", "SE", "JP", "BR", "IN"]
_CATEGORIES = {
    "Coffee": ["Espresso beans", "Filter roast", "Decaf blend", "Single origin", "Cold brew pack"],
    "Equipment": ["Grinder", "Pour-over kit", "Kettle", "Scale", "French press"],
    "Tea": ["Sencha", "Earl Grey", "Rooibos", "Chai", "Oolong"],
    "Accessories": ["Mug", "Travel cup", "Filters (100)", "Cleaning tablets", "Tote bag"],
}
_STATUSES = ["delivered"] * 14 + ["shipped"] * 3 + ["paid"] * 2 + ["cancelled", "refunded"]

SCHEMA = """
CREATE TABLE customers (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    email TEXT NOT NULL UNIQUE,
    country TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE products (
    id INTEGER PRIMARY KEY,
    sku TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    category TEXT NOT NULL,
    price NUMERIC NOT NULL,
    in_stock INTEGER NOT NULL
);
CREATE TABLE orders (
    id INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers(id),
    ordered_at TEXT NOT NULL,
    status TEXT NOT NULL,
    total NUMERIC NOT NULL
);
CREATE TABLE order_items (
    id INTEGER PRIMARY KEY,
    order_id INTEGER NOT NULL REFERENCES orders(id),
    product_id INTEGER NOT NULL REFERENCES products(id),
    quantity INTEGER NOT NULL,
    unit_price NUMERIC NOT NULL
);
CREATE INDEX orders_customer ON orders(customer_id);
CREATE INDEX order_items_order ON order_items(order_id);
CREATE VIEW revenue_by_month AS
    SELECT substr(ordered_at, 1, 7) AS month, count(*) AS orders, round(sum(total), 2) AS revenue
    FROM orders WHERE status NOT IN ('cancelled', 'refunded') GROUP BY 1;
"""


def _customers(rng: random.Random, start: datetime) -> list[tuple]:
    rows = []
    for customer_id in range(1, CUSTOMERS + 1):
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        email = f"{first}.{last}.{customer_id}@example.com".lower().replace("'", "")
        joined = start + timedelta(days=rng.randint(0, 700), minutes=rng.randint(0, 1439))
        rows.append((customer_id, f"{first} {last}", email, rng.choice(_COUNTRIES), joined.isoformat()))
    return rows


def _products(rng: random.Random) -> list[tuple]:
    rows = []
    for product_id in range(1, PRODUCTS + 1):
        category = rng.choice(list(_CATEGORIES))
        base = rng.choice(_CATEGORIES[category])
        price = round(rng.uniform(3, 40) if category != "Equipment" else rng.uniform(25, 320), 2)
        rows.append(
            (product_id, f"SKU-{product_id:05d}", f"{base} #{product_id}", category, price, rng.randint(0, 400))
        )
    return rows


def _orders(rng: random.Random, start: datetime, products: list[tuple]) -> tuple[list[tuple], list[tuple]]:
    orders: list[tuple] = []
    items: list[tuple] = []
    for order_id in range(1, ORDERS + 1):
        ordered = start + timedelta(days=rng.randint(30, 730), minutes=rng.randint(0, 1439))
        total = 0.0
        for _ in range(rng.choice([1, 1, 2, 2, 3, 4])):
            product = rng.choice(products)
            quantity = rng.choice([1, 1, 1, 2, 3])
            total += quantity * product[4]
            items.append((len(items) + 1, order_id, product[0], quantity, product[4]))
        orders.append(
            (order_id, rng.randint(1, CUSTOMERS), ordered.isoformat(), rng.choice(_STATUSES), round(total, 2))
        )
    return orders, items


def build_shop_database(path: Path) -> None:
    """Write the demo database to `path` (atomically: a half-written file is never seen)."""
    rng = random.Random(42)
    start = datetime(2024, 1, 1)
    customers = _customers(rng, start)
    products = _products(rng)
    orders, items = _orders(rng, start, products)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    connection = sqlite3.connect(partial)
    try:
        connection.executescript(SCHEMA)
        connection.executemany("INSERT INTO customers VALUES (?, ?, ?, ?, ?)", customers)
        connection.executemany("INSERT INTO products VALUES (?, ?, ?, ?, ?, ?)", products)
        connection.executemany("INSERT INTO orders VALUES (?, ?, ?, ?, ?)", orders)
        connection.executemany("INSERT INTO order_items VALUES (?, ?, ?, ?, ?)", items)
        connection.commit()
    finally:
        connection.close()
    partial.replace(path)
