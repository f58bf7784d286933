from unitconv.convert import IncompatibleUnits, convert

__all__ = ["IncompatibleUnits", "convert"]
