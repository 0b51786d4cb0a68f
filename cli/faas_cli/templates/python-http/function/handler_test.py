import unittest
from types import SimpleNamespace

from function import handler


class HandlerTest(unittest.TestCase):
    def test_echoes_the_body(self):
        event = SimpleNamespace(body=b"hello", headers={}, method="POST", query={}, path="/")
        res = handler.handle(event, SimpleNamespace(hostname="test"))
        self.assertEqual(res["statusCode"], 200)
        self.assertEqual(res["body"], b"hello")


if __name__ == "__main__":
    unittest.main()
