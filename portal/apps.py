from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Portal"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created
        from django.urls import register_converter

        from .ids import IdConverter
        from .search import register_sqlite_upper

        register_converter(IdConverter, "id")  # before any URLconf is read
        connection_created.connect(register_sqlite_upper)
