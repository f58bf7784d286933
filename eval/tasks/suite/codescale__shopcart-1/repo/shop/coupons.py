"""Coupons: a code that takes an amount off a subtotal."""

from dataclasses import dataclass
from decimal import Decimal

from shop.money import money


@dataclass(frozen=True)
class FixedCoupon:
    code: str
    amount: Decimal

    def discount(self, subtotal):
        return min(money(self.amount), subtotal)


@dataclass(frozen=True)
class PercentCoupon:
    code: str
    percent: Decimal
    """Percent off, e.g. 15 for 15%."""

    def discount(self, subtotal):
        return money(subtotal * self.percent)


CATALOG = {
    "WELCOME5": FixedCoupon("WELCOME5", Decimal("5")),
    "SPRING15": PercentCoupon("SPRING15", Decimal("15")),
    "STAFF30": PercentCoupon("STAFF30", Decimal("30")),
}


def lookup(code):
    try:
        return CATALOG[code.upper()]
    except KeyError:
        raise KeyError(f"no such coupon: {code}") from None
