"""Temperature conversions."""

from thermo.convert import convert
from thermo.scales import SCALES, scale

__all__ = ["SCALES", "convert", "scale"]
