import unittest
from decimal import Decimal

from shop.coupons import lookup


class FixedCouponTest(unittest.TestCase):
    def test_fixed_coupon(self):
        self.assertEqual(lookup("welcome5").discount(Decimal("20.00")), Decimal("5.00"))

    def test_fixed_coupon_never_below_zero(self):
        self.assertEqual(lookup("WELCOME5").discount(Decimal("3.00")), Decimal("3.00"))

    def test_lookup_unknown_code(self):
        with self.assertRaises(KeyError):
            lookup("NOPE")


if __name__ == "__main__":
    unittest.main()
