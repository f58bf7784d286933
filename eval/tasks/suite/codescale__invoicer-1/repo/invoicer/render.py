"""Plain-text rendering of an invoice."""

from __future__ import annotations

from invoicer.invoice import Invoice

WIDTH = 34


def render(invoice: Invoice) -> str:
    lines = []
    for item in invoice.items:
        lines.append(f"{item.description[:14]:<14} {item.quantity:>3} x {str(item.unit_price):>5} {str(item.amount):>8}")
    lines.append("-" * WIDTH)
    lines.append(f"{'Subtotal':<24}{str(invoice.subtotal):>10}")
    lines.append(f"{f'VAT {invoice.vat_rate}%':<24}{str(invoice.vat):>10}")
    lines.append(f"{'Total':<24}{str(invoice.total):>10}")
    return "\n".join(lines)
