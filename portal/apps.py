from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Portal"

    def ready(self) -> None:
        from django.urls import register_converter

        from .ids import IdConverter

        register_converter(IdConverter, "id")  # before any URLconf is read
