"""Line items from CSV (columns: description, quantity, unit_price)."""

from __future__ import annotations

import csv
import io

from invoicer.invoice import Invoice, LineItem
from invoicer.money import Money

COLUMNS = ("description", "quantity", "unit_price")


def read_items(text: str) -> list[LineItem]:
    rows = csv.DictReader(io.StringIO(text))
    missing = [c for c in COLUMNS if c not in (rows.fieldnames or [])]
    if missing:
        raise ValueError(f"CSV is missing column(s): {', '.join(missing)}")
    return [
        LineItem(row["description"].strip(), int(row["quantity"]), Money.parse(row["unit_price"]))
        for row in rows
    ]


def invoice_from_csv(text: str, vat_rate: int = 20) -> Invoice:
    return Invoice(items=read_items(text), vat_rate=vat_rate)
