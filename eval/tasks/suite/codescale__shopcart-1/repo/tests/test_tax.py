import unittest
from decimal import Decimal

from shop.tax import tax


class TaxTest(unittest.TestCase):
    def test_tax_rounding(self):
        self.assertEqual(tax(Decimal("10.05")), Decimal("0.80"))


if __name__ == "__main__":
    unittest.main()
