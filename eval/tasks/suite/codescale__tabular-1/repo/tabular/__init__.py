from tabular.dialect import Dialect
from tabular.table import Table

__all__ = ["Dialect", "Table"]
