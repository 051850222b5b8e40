"""Base viewsets that apply restrict() for the action at hand."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, viewsets
from rest_framework.permissions import SAFE_METHODS


class RestrictedViewSetMixin:
    """Every queryset a view touches passes through restrict(user, action).

    A row the user cannot see is a 404 (nobody learns it exists); a row they
    can see but not change is a 403.
    """

    def restricted(self, action):
        return super().get_queryset().restrict(self.request.user, action)

    def get_queryset(self):
        return self.restricted("view" if self.request.method in SAFE_METHODS else "change")

    def get_object(self):
        try:
            return super().get_object()
        except Http404:
            if self.request.method in SAFE_METHODS:
                raise
            lookup = {self.lookup_field: self.kwargs[self.lookup_url_kwarg or self.lookup_field]}
            try:
                visible = self.restricted("view").filter(**lookup).exists()
            except (TypeError, ValueError, DjangoValidationError):
                visible = False  # a malformed id names nothing
            if visible:
                raise self.not_changeable(lookup) from None
            raise

    def not_changeable(self, lookup):
        """The refusal of a change to the row `lookup` names, which the user sees but may not change."""
        return exceptions.PermissionDenied("You may see this object but not change it.")


class RestrictedModelViewSet(RestrictedViewSetMixin, viewsets.ModelViewSet):
    pass


class RestrictedReadOnlyViewSet(RestrictedViewSetMixin, viewsets.ReadOnlyModelViewSet):
    pass
