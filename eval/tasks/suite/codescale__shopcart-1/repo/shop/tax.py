"""Sales tax."""

from decimal import Decimal

from shop.money import money

DEFAULT_RATE = Decimal("0.08")


def tax(amount, rate=DEFAULT_RATE):
    return money(amount * rate)
