"""Hostile review of identities and authority: users, their names and the registry's own administrators.

Each test is the attack, made as the hostile party through the API or Django admin."""

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from registry.models import User
from tests.factories import UserFactory
from tests.registry.test_authority import data, events


def test_renaming_a_user_is_logged_so_the_logs_names_stay_attributable(api, parties):
    # Every event says who acted by user name ("by"). An org admin renaming the user who revoked a key, then giving
    # that name to another, would move the act onto someone else in the log's eyes unless the rename is logged.
    admin = api(parties.users["op_a_admin"])
    member = parties.users["op_a_member"]
    old = member.username
    response = admin.patch(f"/api/v1/users/{member.pk}/", {"username": "someone-else"})
    assert response.status_code == 200, response.content
    (event,) = events("user.updated", f"user:{member.pk}")
    assert data(event)["before"] == {"username": old} and data(event)["after"] == {"username": "someone-else"}
    assert event.parties == ["op-a"]
    # The creation event keeps its shape: the name once, as `user`.
    created = admin.post("/api/v1/users/", {"username": old, "role": "read-only"})
    assert created.status_code == 201, created.content
    (event,) = events("user.created")
    assert data(event)["user"] == old and "username" not in data(event)


def _staff_admin(parties, *perms):
    """A registry staff member (not a superuser) given the user admin's permissions."""
    staff = UserFactory(organisation=parties.treaty, role="member", is_staff=True)
    staff.user_permissions.add(*Permission.objects.filter(content_type__app_label="registry", codename__in=perms))
    client = Client()
    client.force_login(staff)
    return staff, client


def _admin_form(user, **changes):
    form = {
        "username": user.username,
        "organisation": user.organisation_id or "",
        "role": user.role,
        "date_joined_0": "2026-01-01",
        "date_joined_1": "00:00:00",
        **({"is_active": "on"} if user.is_active else {}),
        **({"is_staff": "on"} if user.is_staff else {}),
        **({"is_superuser": "on"} if user.is_superuser else {}),
    }
    form.update(changes)
    return form


def test_staff_cannot_make_itself_superuser_in_django_admin(parties):
    # registry.authority: only superusers make superusers, and staff never manage them. Django admin saved the
    # user form without asking it, so a staff member allowed to edit users could promote itself.
    staff, client = _staff_admin(parties, "view_user", "change_user")
    response = client.post(f"/admin/registry/user/{staff.pk}/change/", _admin_form(staff, is_superuser="on"))
    assert response.status_code in (302, 403), response.content[:2000]
    staff.refresh_from_db()
    assert not staff.is_superuser
    assert not events("user.updated")


def test_staff_cannot_take_over_a_superuser_in_django_admin(parties):
    root = UserFactory(
        organisation=parties.treaty, role="admin", is_superuser=True, is_staff=True, password="root-pw-1"
    )
    _, client = _staff_admin(parties, "view_user", "change_user")
    # Neither through the change form (deactivating, demoting) ...
    response = client.post(f"/admin/registry/user/{root.pk}/change/", _admin_form(root, role="read-only"))
    assert response.status_code in (302, 403), response.content[:2000]
    # ... nor through the password page, which does not go through the form's save.
    url = f"/admin/registry/user/{root.pk}/password/"
    response = client.post(url, {"password1": "taken-over-pw-123", "password2": "taken-over-pw-123"})
    assert response.status_code in (302, 403), response.content[:2000]
    root.refresh_from_db()
    assert root.role == "admin" and root.is_superuser and root.check_password("root-pw-1")
    assert not Client().login(username=root.username, password="taken-over-pw-123")


def test_a_superuser_still_manages_users_in_django_admin(parties):
    root = UserFactory(organisation=parties.treaty, role="admin", is_superuser=True, is_staff=True)
    client = Client()
    client.force_login(root)
    staff = UserFactory(organisation=parties.treaty, role="member", is_staff=True)
    response = client.post(f"/admin/registry/user/{staff.pk}/change/", _admin_form(staff, is_superuser="on"))
    assert response.status_code == 302, response.content[:2000]
    assert User.objects.get(pk=staff.pk).is_superuser
    (event,) = events("user.updated")
    assert data(event)["after"] == {"is_superuser": True}
    url = f"/admin/registry/user/{staff.pk}/password/"
    response = client.post(url, {"password1": "new-staff-pw-123", "password2": "new-staff-pw-123"})
    assert response.status_code == 302, response.content[:2000]
    assert User.objects.get(pk=staff.pk).check_password("new-staff-pw-123")
    # Logged as a password set through the API is: by whom, never the password or its hash.
    _, event = events("user.updated")
    assert data(event)["password_set"] is True and data(event)["by"] == root.username
    text = bytes(event.data_jcs).decode() if not isinstance(event.data_jcs, str) else event.data_jcs
    assert "new-staff-pw-123" not in text and "pbkdf2" not in text
    # A refused or mistyped one logs nothing.
    response = client.post(url, {"password1": "new-staff-pw-123", "password2": "another-pw-4567"})
    assert response.status_code == 200
    assert len(events("user.updated")) == 2


def test_authority_refuses_staff_granting_superuser(parties):
    from core.errors import DomainError
    from registry import authority

    staff = UserFactory(organisation=parties.treaty, role="member", is_staff=True)
    target = parties.users["op_a_member"]
    for who in (staff, target):
        with pytest.raises(DomainError) as exc:
            authority.check_user_change(staff, who, {"is_superuser": True})
        assert exc.value.status == 403
    authority.check_user_change(staff, target, {"role": "admin"})  # staff manage ordinary users


def test_staff_cannot_grant_itself_django_permissions_or_groups(parties):
    """Allowed to edit users, a staff member gave itself every table's admin permissions: unlogged, unasked."""
    from django.contrib.auth.models import Group

    staff, client = _staff_admin(parties, "view_user", "change_user")
    every = list(Permission.objects.values_list("pk", flat=True))
    response = client.post(f"/admin/registry/user/{staff.pk}/change/", _admin_form(staff, user_permissions=every))
    assert response.status_code in (302, 403), response.content[:2000]
    assert sorted(staff.user_permissions.values_list("codename", flat=True)) == ["change_user", "view_user"]
    group = Group.objects.create(name="everything")
    group.permissions.set(every)
    response = client.post(f"/admin/registry/user/{staff.pk}/change/", _admin_form(staff, groups=[group.pk]))
    assert response.status_code in (302, 403), response.content[:2000]
    assert not staff.groups.exists()
    assert not events("user.updated")
    # Nor through the groups' own page: a registry user's authority is its organisation and role.
    assert client.get("/admin/auth/group/").status_code == 404


def test_a_superusers_grant_of_django_permissions_is_logged(parties):
    root = UserFactory(organisation=parties.treaty, role="admin", is_superuser=True, is_staff=True)
    client = Client()
    client.force_login(root)
    staff, _ = _staff_admin(parties, "view_user")
    added = Permission.objects.get(content_type__app_label="registry", codename="change_organisation")
    kept = list(staff.user_permissions.values_list("pk", flat=True))
    response = client.post(
        f"/admin/registry/user/{staff.pk}/change/", _admin_form(staff, user_permissions=[*kept, added.pk])
    )
    assert response.status_code == 302, response.content[:2000]
    (event,) = events("user.updated", f"user:{staff.pk}")
    assert data(event)["before"] == {"user_permissions": ["registry.view_user"]}
    assert data(event)["after"] == {"user_permissions": ["registry.change_organisation", "registry.view_user"]}
    assert data(event)["by"] == root.username


def test_staff_cannot_take_over_a_user_a_superuser_granted_more(parties):
    """Refused the grant itself, a staff member allowed to edit users set the password of another staff member a
    superuser had granted more (here every organisation's admin), and logged in as that member: the grants were
    its own. Or made staff, and reactivated, a user holding grants. Such a user is a superuser's to manage."""
    _, client = _staff_admin(parties, "view_user", "change_user")
    richer = UserFactory(organisation=parties.treaty, role="member", is_staff=True, password="richer-pw-1")
    richer.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="registry", codename__in=["change_user", "change_organisation"]
        )
    )
    url = f"/admin/registry/user/{richer.pk}/password/"
    response = client.post(url, {"password1": "taken-over-pw-123", "password2": "taken-over-pw-123"})
    assert response.status_code in (302, 403), response.content[:2000]
    assert User.objects.get(pk=richer.pk).check_password("richer-pw-1")
    dormant = UserFactory(organisation=parties.treaty, role="member", is_active=False)
    dormant.user_permissions.add(Permission.objects.get(content_type__app_label="registry", codename="change_chip"))
    response = client.post(
        f"/admin/registry/user/{dormant.pk}/change/", _admin_form(dormant, is_active="on", is_staff="on")
    )
    assert response.status_code in (302, 403), response.content[:2000]
    dormant.refresh_from_db()
    assert not dormant.is_active and not dormant.is_staff
    assert not events("user.updated")
    # A staff member still manages one who holds nothing it lacks (itself, ordinary users, a peer).
    peer = UserFactory(organisation=parties.treaty, role="member", is_staff=True)
    peer.user_permissions.add(Permission.objects.get(content_type__app_label="registry", codename="view_user"))
    url = f"/admin/registry/user/{peer.pk}/password/"
    response = client.post(url, {"password1": "new-peer-pw-123", "password2": "new-peer-pw-123"})
    assert response.status_code == 302, response.content[:2000]
    assert User.objects.get(pk=peer.pk).check_password("new-peer-pw-123")


def test_staff_cannot_make_an_operators_admin_staff_in_django_admin(parties, api):
    """A client written from the README, 2026-12-07: a staff member allowed to edit users ticked `is_staff` on an
    operator's admin. Staff are registry administrators: the user left its organisation's hands (its other admin
    got 403 `protected_user`) and could manage every organisation's users. Only a superuser makes or unmakes one."""
    _, client = _staff_admin(parties, "view_user", "change_user")
    target = parties.users["op_a_admin"]
    response = client.post(f"/admin/registry/user/{target.pk}/change/", _admin_form(target, is_staff="on"))
    assert response.status_code in (302, 403), response.content[:2000]
    target.refresh_from_db()
    assert not target.is_staff
    assert not events("user.updated")
    peer = UserFactory(organisation=parties.treaty, role="member", is_staff=True)
    response = client.post(f"/admin/registry/user/{peer.pk}/change/", _admin_form(peer, is_staff=""))
    peer.refresh_from_db()
    assert peer.is_staff
    # An ordinary user's other fields, staff still manage.
    response = client.post(f"/admin/registry/user/{target.pk}/change/", _admin_form(target, role="member"))
    assert response.status_code == 302, response.content[:2000]
    target.refresh_from_db()
    assert target.role == "member"
