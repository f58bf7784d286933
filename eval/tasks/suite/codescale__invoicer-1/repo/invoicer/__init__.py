from invoicer.invoice import Invoice, LineItem
from invoicer.money import Money

__all__ = ["Invoice", "LineItem", "Money"]
