"""Unit expressions: `km`, `m^2`, `km/h`, `g/cm^3`, `kg*m/s^2`."""

from __future__ import annotations

import re
from collections import Counter

from unitconv._table import UNITS

_TERM = re.compile(r"([A-Za-z]+)(?:\^(-?\d+))?$")


def parse_unit(expression: str) -> tuple[float, dict[str, int]]:
    """(factor to SI, dimension exponents) of a unit expression."""
    numerator, _, denominator = expression.replace(" ", "").partition("/")
    factor, dims = _product(numerator, expression)
    if denominator:
        den_factor, den_dims = _product(denominator, expression)
        factor *= den_factor
        dims.subtract(den_dims)
    return factor, {d: n for d, n in dims.items() if n}


def _product(text: str, expression: str) -> tuple[float, Counter]:
    factor, dims = 1.0, Counter()
    for term in text.split("*"):
        match = _TERM.match(term)
        if not match or match.group(1) not in UNITS:
            raise KeyError(f"unknown unit {term!r} in {expression!r}")
        power = int(match.group(2) or 1)
        unit_factor, unit_dims = UNITS[match.group(1)]
        factor *= unit_factor**power
        for dim, exponent in unit_dims.items():
            dims[dim] += exponent * power
    return factor, dims
