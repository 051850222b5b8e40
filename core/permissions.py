"""The one permission class: roles decide *whether* a user may write at all;
which rows they may touch is decided by the queryset's restrict(), not here."""

from rest_framework.permissions import SAFE_METHODS, BasePermission

WRITE_ROLES = {"admin", "member"}


class RolePermission(BasePermission):
    message = "Your role in your organisation does not allow this."

    def has_permission(self, request, view):
        user = request.user
        if not (user and user.is_authenticated):
            return False
        if request.method in SAFE_METHODS or user.is_superuser:
            return True
        return getattr(user, "role", None) in WRITE_ROLES


class IsOrgAdmin(BasePermission):
    message = "Only an administrator of your organisation may do this."

    def has_permission(self, request, view):
        user = request.user
        if request.method in SAFE_METHODS:
            return bool(user and user.is_authenticated)
        return bool(user and user.is_authenticated and (user.is_superuser or user.role == "admin"))
