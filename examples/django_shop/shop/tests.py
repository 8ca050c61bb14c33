"""The shop's tests, for Django's test runner: ``python manage.py test shop``."""

from django.test import TestCase

from unleash_lite.django import override_flag, override_flags


class HomeTests(TestCase):
    @override_flag("new-checkout", active=True)
    def test_the_new_checkout_is_offered_when_on(self) -> None:
        self.assertContains(self.client.get("/"), "Try the new checkout")
        self.assertEqual(self.client.get("/checkout/v2/").status_code, 200)

    @override_flag("new-checkout", active=False)
    def test_the_new_checkout_redirects_home_when_off(self) -> None:
        self.assertNotContains(self.client.get("/"), "Try the new checkout")
        self.assertRedirects(self.client.get("/checkout/v2/"), "/")

    def test_reports_answer_404_when_off(self) -> None:
        with override_flag("reports", active=False):
            self.assertEqual(self.client.get("/reports/").status_code, 404)
        self.assertEqual(self.client.get("/reports/").status_code, 200)


@override_flags({"banner": False, "reports": False})
class WholeClassTests(TestCase):
    def test_no_banner(self) -> None:
        self.assertNotContains(self.client.get("/"), "Winter sale")

    def test_no_reports(self) -> None:
        self.assertEqual(self.client.get("/reports/").status_code, 404)


class PriceTests(TestCase):
    async def test_members_get_member_prices(self) -> None:
        response = await self.async_client.get("/api/price/")
        self.assertEqual(response.json(), {"price": 100, "discount": 20, "member": False})
        with override_flag("member-prices"):
            response = await self.async_client.get("/api/price/")
        self.assertTrue(response.json()["member"])
