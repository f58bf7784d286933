import pytest

from invoicer.importer import read_items
from invoicer.money import Money


def test_import_rows():
    items = read_items("description,quantity,unit_price\nTea,2,4.50\nMug,1,12\n")
    assert [(i.description, i.quantity, i.unit_price) for i in items] == [
        ("Tea", 2, Money(450)),
        ("Mug", 1, Money(1200)),
    ]


def test_import_missing_column():
    with pytest.raises(ValueError, match="unit_price"):
        read_items("description,quantity\nTea,2\n")
