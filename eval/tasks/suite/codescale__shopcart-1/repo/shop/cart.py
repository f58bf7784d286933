"""A cart of items and its checkout totals."""

from dataclasses import dataclass, field
from decimal import Decimal

from shop.coupons import lookup
from shop.money import money
from shop.tax import tax


@dataclass
class Line:
    sku: str
    price: Decimal
    quantity: int


@dataclass
class Cart:
    lines: dict = field(default_factory=dict)

    def add(self, sku, price, quantity=1):
        if quantity <= 0:
            raise ValueError("quantity must be positive")
        line = self.lines.get(sku)
        if line:
            line.quantity += quantity
        else:
            self.lines[sku] = Line(sku, money(price), quantity)

    def remove(self, sku):
        self.lines.pop(sku, None)

    def subtotal(self):
        return money(sum((line.price * line.quantity for line in self.lines.values()), Decimal(0)))


def checkout(cart, coupon_code=None):
    """Totals for `cart`: subtotal, discount, tax (on the discounted amount) and total."""
    subtotal = cart.subtotal()
    discount = lookup(coupon_code).discount(subtotal) if coupon_code else money(0)
    taxable = max(subtotal - discount, money(0))
    tax_due = tax(taxable)
    return {"subtotal": subtotal, "discount": discount, "tax": tax_due, "total": taxable + tax_due}
