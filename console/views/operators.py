"""An organisation's own things: its signing keys and its submissions (accepted and rejected)."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from attestations.models import Attestation, Rejection, SigningKey
from attestations.services import register_key, retire_key, revoke_key
from console.access import console_view, forbidden, manages_keys, not_found
from console.forms import KeyForm, RetireForm, RevokeForm
from console.tables import cursor_param, keyset_iter, keyset_page, wants_csv
from console.tablespec import Column, Table
from console.views.dashboard_tables import STATEMENT_COLUMNS
from core.errors import DomainError


def _iso(value):
    return value.isoformat() if value else ""


_KEY_COLUMNS = (
    Column(
        "Key id",
        "{{ row.keyid|truncatechars:20 }}",
        "keyid",
        lambda k: k.keyid,
        css="mono small",
        title="{{ row.keyid }}",
    ),
    Column(csv="organisation", value=lambda k: k.organisation.code),
    Column("Name", '{{ row.name|default:"—" }}', "name", lambda k: k.name),
    Column(
        "Algorithm",
        '{{ row.algorithm }} <span class="muted small">{{ row.purpose }}</span>',
        "algorithm",
        lambda k: k.algorithm,
    ),
    Column(csv="purpose", value=lambda k: k.purpose),
    Column("Valid from", "{{ row.valid_from|when }}", "valid_from", lambda k: k.valid_from.isoformat(), css="small"),
    Column(
        "State",
        '{% if row.revoked_since %}<span class="sev sev-high">revoked</span> since {{ row.revoked_since|when }}'
        '{% elif row.retired_at %}<span class="muted">retired {{ row.retired_at|when }}</span>'
        '{% else %}<span class="verified">active</span>{% endif %}',
        css="small",
    ),
    Column(csv="retired_at", value=lambda k: _iso(k.retired_at)),
    Column(csv="revoked_since", value=lambda k: _iso(k.revoked_since)),
    Column(csv="log_index", value=lambda k: k.log_index),
    Column(csv="pem", value=lambda k: k.pem),
)
# The organisation's keys; a user who manages them sees the same table with a column of forms
# (the page's per-key errors as `key_errors`, a keyword of the table tag).
KEYS = Table("keys", "signing-keys.csv", _KEY_COLUMNS)
MANAGED_KEYS = Table(
    "keys",
    "signing-keys.csv",
    (
        *_KEY_COLUMNS,
        Column(
            "Retire or revoke",
            '{% include "console/_key_actions.html" %}',
            css="keyactions",
        ),
    ),
)


def _own_keys(user):
    # "change" narrows to the user's organisation: the keys it may retire and revoke.
    return SigningKey.objects.restrict(user, "change").select_related("organisation", "created_by")


def _keys_page(request, form=None, status=200, errors=None):
    keys = list(_own_keys(request.user).order_by("-id")[:200])
    can_manage = manages_keys(request.user)
    context = {
        "keys": keys,
        "form": form or KeyForm(),
        "retire_form": RetireForm(),
        "revoke_form": RevokeForm(),
        "can_manage": can_manage,
        "table": MANAGED_KEYS if can_manage else KEYS,
        "key_errors": errors or {},
    }
    return render(request, "console/keys.html", context, status=status)


@console_view
def keys(request):
    user = request.user
    if wants_csv(request):
        return KEYS.csv(keyset_iter(_own_keys(user)))
    if request.method == "POST":
        if not manages_keys(user):
            return forbidden(request, "Operators register attestation keys.")
        form = KeyForm(request.POST)
        if form.is_valid():
            try:
                key = register_key(user, form.cleaned_data["pem"], name=form.cleaned_data["name"])
            except DomainError as exc:
                form.add_error("pem", str(exc.detail))
            else:
                messages.success(request, f"Key {key.keyid[:16]}… registered (log index {key.log_index}).")
                return redirect("console:keys")
        return _keys_page(request, form=form, status=400)
    return _keys_page(request)


def _key(request, keyid):
    return _own_keys(request.user).filter(keyid=keyid).first()


@console_view
@require_POST
def key_retire(request, keyid):
    key = _key(request, keyid)
    if key is None:
        return not_found(request, "No such key of your organisation.")
    form = RetireForm(request.POST)
    if form.is_valid():
        try:
            retire_key(request.user, key, form.cleaned_data.get("at"))
        except DomainError as exc:
            return _keys_page(request, status=409, errors={key.keyid: str(exc.detail)})
        messages.success(request, f"Key {key.keyid[:16]}… retired.")
        return redirect("console:keys")
    return _keys_page(request, status=400, errors={key.keyid: "Give a valid date and time."})


@console_view
@require_POST
def key_revoke(request, keyid):
    key = _key(request, keyid)
    if key is None:
        return not_found(request, "No such key of your organisation.")
    form = RevokeForm(request.POST)
    if form.is_valid():
        try:
            key, flagged = revoke_key(request.user, key, form.cleaned_data["since"], form.cleaned_data["reason"])
        except DomainError as exc:
            return _keys_page(request, status=409, errors={key.keyid: str(exc.detail)})
        messages.success(request, f"Key {key.keyid[:16]}… revoked; {flagged} statement(s) flagged.")
        return redirect("console:keys")
    errors = "; ".join(f"{field}: {' '.join(errs)}" for field, errs in form.errors.items())
    return _keys_page(request, status=400, errors={key.keyid: errors})


REJECTED = Table(
    "rejected",
    "rejected-submissions.csv",
    (
        Column("#", "{{ row.pk }}", "id", lambda r: r.pk),
        Column(
            "When",
            '<span title="{{ row.at|when }}">{{ row.at|stamp }}</span>',
            "at",
            lambda r: r.at.isoformat(),
            css="stamp",
        ),
        Column("Organisation", "{{ row.organisation.code }}", "organisation", lambda r: r.organisation.code),
        Column("User", "{{ row.user.username }}", "user", lambda r: r.user.username),
        Column("Status", '<span class="sev sev-high">rejected {{ row.status }}</span>', "status", lambda r: r.status),
        Column("Code", "<code>{{ row.code }}</code>", "code", lambda r: r.code),
        Column("Reason", "{{ row.detail }}", "detail", lambda r: r.detail, css="reason"),
        Column("Bytes", "{{ row.body_bytes|num }}", "body_bytes", lambda r: r.body_bytes, css="num"),
        Column(csv="body_sha256", value=lambda r: r.body_sha256),
    ),
    dom_id="rejections",
)

ACCEPTED = Table(
    "accepted",
    "accepted-submissions.csv",
    (
        Column("#", "{{ row.pk }}", "id", lambda a: a.pk),
        Column(
            "Received",
            '<span title="{{ row.received_at|when }}">{{ row.received_at|stamp }}</span>',
            "received_at",
            lambda a: a.received_at.isoformat(),
            css="stamp",
        ),
        *STATEMENT_COLUMNS,
        Column("Chips", "{{ row.chip_count|num }}", "chips", lambda a: a.chip_count, css="num"),
        Column("Log index", '{{ row.log_index|default_if_none:"—" }}', "log_index", lambda a: a.log_index, css="num"),
        Column(
            "Status",
            '{% if row.flagged %}<span class="sev sev-high">accepted, key revoked</span>'
            '{% else %}<span class="verified">accepted</span>{% endif %}',
            "flagged",
            lambda a: a.flagged,
        ),
        Column(csv="statement_sha256", value=lambda a: a.statement_sha256),
    ),
)


@console_view
def submissions(request):
    """Statements accepted (Attestation rows) and refused (Rejection rows, with the reason)."""
    user = request.user
    accepted = (
        Attestation.objects.restrict(user)
        .select_related("operator", "facility", "uploaded_by")
        .defer("envelope", "header")
    )
    rejected = Rejection.objects.restrict(user).select_related("organisation", "user")
    table = request.GET.get("table") if wants_csv(request) else None
    if table == "rejected":
        return REJECTED.csv(keyset_iter(rejected))
    if table is not None:
        return ACCEPTED.csv(keyset_iter(accepted))
    accepted_rows, accepted_next = keyset_page(accepted, cursor_param(request, "accepted_before"), 25, descending=True)
    rejected_rows, rejected_next = keyset_page(rejected, cursor_param(request, "rejected_before"), 25, descending=True)
    context = {
        "accepted": accepted_rows,
        "accepted_next": accepted_next,
        "rejected": rejected_rows,
        "rejected_next": rejected_next,
        "accepted_table": ACCEPTED,
        "rejected_table": REJECTED,
    }
    return render(request, "console/submissions.html", context)
