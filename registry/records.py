"""The one writer of organisations, users, tokens and catalog corrections.

Each function asks registry.authority whether the actor may make the change,
applies it and appends its transparency-log event in one transaction, so a
record an inspector or treaty body relies on never changes without a trace.
The API, Django admin and manage.py commands all come through here.

`actor` None is the command line (see registry.authority).
"""

from django.db import transaction

from core.countries import country_codes
from core.errors import Forbidden
from outbox import emit
from registry import authority
from registry.choices import OrgKind

COMMAND_LINE = "manage.py"


def _by(actor):
    return actor.username if actor is not None else COMMAND_LINE


def _actor_org(actor):
    return [actor.organisation.code] if actor is not None and actor.organisation_id else []


def _append(event, object_id, data, parties, countries):
    from transparency.events import append_event

    return append_event(
        event, object_id, data, parties=sorted(set(parties) - {""}), countries=sorted(set(countries) - {""})
    )


# --- organisations -------------------------------------------------------------

ORG_FIELDS = ("name", "kind", "country", "jurisdictions")


def _org_state(org, fields=ORG_FIELDS):
    return {f: list(getattr(org, f)) if f == "jurisdictions" else getattr(org, f) for f in fields}


def _org_countries(*states):
    """Every country an organisation's record touches: its home and its jurisdictions, before and after.

    So the inspectorate that loses sight of an operator and the one that gains
    it both see the change, and so do those of an inspectorate's old and new
    jurisdictions.
    """
    out = set()
    for state in states:
        out.add(state.get("country") or "")
        out.update(state.get("jurisdictions") or [])
    return out


@transaction.atomic
def create_organisation(actor, **fields):
    from registry.models import Organisation

    authority.check_organisation_create(actor)
    org = Organisation(**fields)
    org.full_clean()
    if org.kind == OrgKind.MANUFACTURER:
        from registry.hardware_identity import check_new_maker

        check_new_maker(org.code)
    org.save()
    state = _org_state(org)
    _append(
        "organisation.created",
        org.code,
        {"organisation": org.code, **state, "by": _by(actor)},
        parties=[org.code, *_actor_org(actor)],
        countries=_org_countries(state),
    )
    return org


@transaction.atomic
def update_organisation(org, actor, changes):
    """Apply `changes` (field -> new value) to `org`; only the fields whose value differs count."""
    from registry.models import Organisation

    org = Organisation.objects.select_for_update().get(pk=org.pk)
    changed = {f: v for f, v in changes.items() if getattr(org, f) != v}
    if not changed:
        return org
    authority.check_organisation_change(actor, org, changed)
    before = _org_state(org, sorted(changed))
    for field, value in changed.items():
        setattr(org, field, value)
    org.full_clean()
    if "kind" in changed and org.kind == OrgKind.MANUFACTURER:
        from registry.hardware_identity import check_new_maker

        check_new_maker(org.code)
    org.save()
    after = _org_state(org, sorted(changed))
    _append(
        "organisation.updated",
        org.code,
        {"organisation": org.code, "before": before, "after": after, "by": _by(actor)},
        parties=[org.code, *_actor_org(actor)],
        countries=_org_countries(before, after, _org_state(org)),
    )
    return org


# --- users -------------------------------------------------------------------


def user_state(user, grants=True):
    state = {f: getattr(user, f) for f in authority.USER_AUTHORITY_FIELDS if f != "organisation"}
    state["organisation"] = user.organisation.code if user.organisation_id else None
    # Every event names who acted by user name ("by"): a rename is logged, or the log's names would move
    # from one person to another unseen (a name given up, then given to someone else).
    state["username"] = user.username
    if grants:
        # Django admin's grants to staff: who may edit which table there is itself a change of authority.
        state["groups"] = sorted(user.groups.values_list("name", flat=True))
        state["user_permissions"] = sorted(
            f"{app}.{codename}"
            for app, codename in user.user_permissions.values_list("content_type__app_label", "codename")
        )
    return state


def _log_user(event, user, actor, data, orgs):
    return _append(
        event,
        f"user:{user.pk}",
        {"user": user.username, **data, "by": _by(actor)},
        parties=[*orgs, *_actor_org(actor)],
        countries=[],
    )


@transaction.atomic
def create_user(actor, organisation, *, username, role, password=None, email="", is_active=True, superuser=False):
    from registry.models import User

    authority.check_user_create(actor, organisation, role)
    if superuser and actor is not None and not actor.is_superuser:
        raise Forbidden("Only superusers create superusers.")
    user = User(username=username, email=email, organisation=organisation, role=role, is_active=is_active)
    user.is_superuser = user.is_staff = bool(superuser)
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.save()
    record_user_created(user, actor)
    return user


def record_user_created(user, actor):
    """Log a new user (also one Django admin saved itself)."""
    orgs = [user.organisation.code] if user.organisation_id else []
    # Named once, as `user`; a new user holds no Django grants (no form or endpoint gives any at creation).
    state = {f: v for f, v in user_state(user, grants=False).items() if f != "username"}
    if user.has_usable_password():
        # Given at creation, as when set later (user.updated): whoever set it can sign in as the user.
        state["password_set"] = True
    return _log_user("user.created", user, actor, state, orgs)


@transaction.atomic
def update_user(user, actor, changes):
    """Apply `changes` (field -> new value; `password` is set, not stored) to `user`, logging role changes."""
    from registry.models import User

    user = User.objects.select_for_update(of=("self",)).select_related("organisation").get(pk=user.pk)
    password = changes.pop("password", None)
    changed = {f: v for f, v in changes.items() if getattr(user, f) != v}
    authority.check_user_change(actor, user, {**changed, **({"password": True} if password else {})})
    before = user_state(user)
    for field, value in changed.items():
        setattr(user, field, value)
    if password:
        user.set_password(password)
    if changed or password:
        user.save()
    record_user_change(user, before, actor, password_set=bool(password))
    return user


def record_user_change(user, before, actor, password_set=False):
    """Log the change of a user's authority fields or name since `before` (a user_state), if any, and a password
    set (`password_set`: whoever sets it signs in as the user, and what it does next is logged under the user's
    name; the event names who set it, never the password or its hash)."""
    after = user_state(user)
    diff = sorted(f for f in after if after[f] != before.get(f))
    if not diff and not password_set:
        return None
    orgs = {before.get("organisation"), after["organisation"]} - {None}
    data = {"before": {f: before.get(f) for f in diff}, "after": {f: after[f] for f in diff}}
    if password_set:
        data["password_set"] = True
    return _log_user("user.updated", user, actor, data, sorted(orgs))


# --- tokens ------------------------------------------------------------------


def record_token(event, token, actor):
    """`token.issued` or `token.revoked`: who may speak for an organisation through the API, and since when."""
    user = token.user
    data = {
        "user": user.username,
        "prefix": token.prefix,
        "at": (token.revoked_at if event == "token.revoked" else token.created_at).isoformat(),
        "by": _by(actor),
    }
    orgs = [user.organisation.code] if user.organisation_id else []
    return _append(event, f"token:{token.pk}", data, parties=[*orgs, *_actor_org(actor)], countries=[])


@transaction.atomic
def revoke_token(token, actor):
    """Revoke `token` (once: the row is read again under a lock, so two revocations at once write and log one)."""
    from registry.models import APIToken

    token = APIToken.objects.select_for_update(of=("self",)).select_related("user__organisation").get(pk=token.pk)
    if token.revoked_at is not None:
        return token
    token.revoke()
    record_token("token.revoked", token, actor)
    return token


# --- the catalog -------------------------------------------------------------


def _catalog_countries():
    # Every party's counted compute depends on the catalog: every inspectorate sees its corrections.
    return country_codes()


@transaction.atomic
def correct_model(model, actor, changes, reason=""):
    """Correct a model's figures; the old ones stay in a revision and in the log. Returns the revision or None."""
    from registry.models import AcceleratorModel, AcceleratorModelRevision

    authority.check_model_correction(actor)
    model = AcceleratorModel.objects.select_for_update().select_related("manufacturer").get(pk=model.pk)
    before = model.figures()
    for field, value in changes.items():
        setattr(model, field, value)
    model.derive()  # TPP follows the throughput figures; the revision and the event show it move with them
    after = model.figures()
    if before == after:
        return None
    model.save()
    # The work already reported on its chips is counted again at the corrected figures (attestations.recount).
    emit("catalog.corrected", model=model.pk)
    diff = sorted(f for f in after if after[f] != before[f])
    log_index = _append(
        "model.corrected",
        model.slug,
        {
            "model": model.slug,
            "manufacturer": model.manufacturer.code,
            "before": {f: before[f] for f in diff},
            "after": {f: after[f] for f in diff},
            "reason": reason,
            "by": _by(actor),
        },
        parties=[model.manufacturer.code, *_actor_org(actor)],
        countries=_catalog_countries(),
    )
    return AcceleratorModelRevision.objects.create(
        model=model,
        changed_by=actor,
        reason=reason,
        before=before,
        after=after,
        log_index=log_index,
    )


def record_model_added(model, actor):
    """Log a model added to the catalog by hand (Django admin)."""
    return _append(
        "model.added",
        model.slug,
        {"model": model.slug, "manufacturer": model.manufacturer.code, "figures": model.figures(), "by": _by(actor)},
        parties=[model.manufacturer.code, *_actor_org(actor)],
        countries=_catalog_countries(),
    )
