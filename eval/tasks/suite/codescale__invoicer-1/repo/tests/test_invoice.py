from invoicer.invoice import Invoice, LineItem
from invoicer.money import Money


def test_totals():
    invoice = Invoice([LineItem("Widget", 3, Money(1999)), LineItem("Cable", 1, Money(29))])
    assert invoice.subtotal == Money(6026)
    assert invoice.vat == Money(1205)
    assert invoice.total == Money(7231)


def test_empty_invoice():
    assert Invoice().total == Money(0)
