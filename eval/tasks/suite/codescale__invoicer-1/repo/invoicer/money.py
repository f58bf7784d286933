"""Money as a whole number of cents, so that sums never drift."""

from __future__ import annotations

import re
from dataclasses import dataclass

_AMOUNT = re.compile(r"^-?\d+(\.\d{1,2})?$")


@dataclass(frozen=True, order=True)
class Money:
    cents: int

    @classmethod
    def parse(cls, text: str) -> Money:
        """Parse a decimal amount such as `"12.5"` or `"-3.10"` (at most two decimals)."""
        text = text.strip().replace(",", "")
        if not _AMOUNT.match(text):
            raise ValueError(f"not an amount: {text!r}")
        return cls(int(float(text) * 100))

    def __add__(self, other: Money) -> Money:
        return Money(self.cents + other.cents)

    def __sub__(self, other: Money) -> Money:
        return Money(self.cents - other.cents)

    def __mul__(self, factor: int) -> Money:
        return Money(self.cents * factor)

    def percent(self, rate: int) -> Money:
        """`rate` percent of this amount, rounded half up to a cent."""
        sign = -1 if self.cents < 0 else 1
        return Money(sign * ((abs(self.cents) * rate + 50) // 100))

    def __str__(self) -> str:
        sign = "-" if self.cents < 0 else ""
        whole, cents = divmod(abs(self.cents), 100)
        return f"{sign}{whole}.{cents:02d}"


ZERO = Money(0)
