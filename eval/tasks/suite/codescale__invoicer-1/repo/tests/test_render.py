from invoicer.invoice import Invoice, LineItem
from invoicer.money import Money
from invoicer.render import render


def test_render_layout():
    text = render(Invoice([LineItem("Tea", 2, Money(450))], vat_rate=10))
    assert text.splitlines() == [
        "Tea              2 x  4.50     9.00",
        "-" * 34,
        "Subtotal                      9.00",
        "VAT 10%                       0.90",
        "Total                         9.90",
    ]
