from django.apps import AppConfig


class DemoConfig(AppConfig):
    # An app only so that `manage.py load_demo` is found; it has no models.
    name = "demo"
    verbose_name = "Demo world (make run)"
