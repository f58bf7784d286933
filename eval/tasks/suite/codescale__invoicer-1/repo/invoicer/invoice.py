"""Invoices and their line items."""

from __future__ import annotations

from dataclasses import dataclass, field

from invoicer.money import ZERO, Money


@dataclass(frozen=True)
class LineItem:
    description: str
    quantity: int
    unit_price: Money

    @property
    def amount(self) -> Money:
        return self.unit_price * self.quantity


@dataclass
class Invoice:
    items: list[LineItem] = field(default_factory=list)
    vat_rate: int = 20
    """VAT in percent."""

    def add(self, item: LineItem) -> None:
        self.items.append(item)

    @property
    def subtotal(self) -> Money:
        total = ZERO
        for item in self.items:
            total = total + item.amount
        return total

    @property
    def vat(self) -> Money:
        return self.subtotal.percent(self.vat_rate)

    @property
    def total(self) -> Money:
        return self.subtotal + self.vat
