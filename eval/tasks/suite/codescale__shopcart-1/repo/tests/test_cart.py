import unittest
from decimal import Decimal

from shop.cart import Cart, checkout


class CartTest(unittest.TestCase):
    def test_subtotal(self):
        cart = Cart()
        cart.add("tea", "4.50", 2)
        cart.add("mug", "12.00")
        self.assertEqual(cart.subtotal(), Decimal("21.00"))

    def test_remove_item(self):
        cart = Cart()
        cart.add("tea", "4.50")
        cart.remove("tea")
        self.assertEqual(cart.subtotal(), Decimal("0.00"))

    def test_quantity_must_be_positive(self):
        with self.assertRaises(ValueError):
            Cart().add("tea", "4.50", 0)


class CheckoutTest(unittest.TestCase):
    def test_checkout_without_coupon(self):
        cart = Cart()
        cart.add("lamp", "40.00")
        self.assertEqual(checkout(cart)["total"], Decimal("43.20"))


if __name__ == "__main__":
    unittest.main()
