from django.urls import path

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("checkout/v2/", views.checkout_v2, name="checkout-v2"),
    path("reports/", views.ReportsView.as_view(), name="reports"),
    path("api/price/", views.price, name="price"),
]
