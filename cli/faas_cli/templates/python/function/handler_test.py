import unittest

from function import handler


class HandlerTest(unittest.TestCase):
    def test_echoes_the_body(self):
        self.assertEqual(handler.handle("hello"), "hello")


if __name__ == "__main__":
    unittest.main()
