from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.generic import TemplateView

from unleash_lite.django import FlagRequiredMixin, flag_required

from .pricing import discount_percent


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "shop/home.html")


@flag_required("new-checkout", redirect_to="home")  # off: back to the home page
def checkout_v2(request: HttpRequest) -> HttpResponse:
    return render(request, "shop/checkout_v2.html")


class ReportsView(FlagRequiredMixin, TemplateView):
    flag_name = "reports"  # off: 404
    template_name = "shop/reports.html"


async def price(request: HttpRequest) -> JsonResponse:
    # request.unleash checks flags with this request's context; in async views, ais_enabled
    # builds that context (user, session) off the event loop first.
    member = await request.unleash.ais_enabled("member-prices")  # type: ignore[attr-defined]
    return JsonResponse({"price": 100, "discount": discount_percent(), "member": member})
