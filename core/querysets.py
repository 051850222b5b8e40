"""The restrict() protocol: every model the API serves has a queryset that
narrows itself to what a user may see (action="view") or change
(action="change"). Views call it; nothing else decides visibility."""

from django.db import models


class RestrictedQuerySet(models.QuerySet):
    def restrict(self, user, action="view"):
        if user is None or not user.is_authenticated:
            return self.none()
        if user.is_superuser:
            return self
        org = getattr(user, "organisation", None)
        if org is None:
            return self.none()
        return self.restrict_for(user, org, action)

    def restrict_for(self, user, org, action):  # pragma: no cover - each model says
        raise NotImplementedError(f"{self.model.__name__} must define restrict_for()")
