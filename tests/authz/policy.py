"""Who may do what, as a table: every (method, path template) of the OpenAPI schema, and
every console route, against every role, with the outcome the policy intends.

The matrices (test_api_matrix.py, test_console_matrix.py) walk these tables; a route
without an entry, or an entry without a route, fails the suite, so the table is the
one place where a new endpoint's permissions must be decided.

Outcomes are classes of status, not exact codes where either is as good: a refused
role must never get a 2xx and must leave the database as it was; a row it may not
see must not be told apart from a row that does not exist (404). A cell the code
gets wrong today, and another branch of issue #15 fixes, is REFUSED: it
runs as a strict xfail, so the fix turns it into a failure until the marker goes.
"""

from dataclasses import dataclass, field
from typing import Any

ROLES = (
    "op_admin",  # operator A (op-demo, US facilities): admin
    "op_member",  # operator A: member
    "op_readonly",  # operator A: read-only
    "op_other",  # operator B (op-other, a DE facility): admin, acting on A's objects
    "insp_in",  # inspectorate whose jurisdiction holds A's facilities (insp-us): admin
    "insp_out",  # inspectorate of another country (insp-de): admin
    "manufacturer",  # nvidia: admin
    "treaty",  # the treaty body (treaty-demo): admin
    "registry_admin",  # the registry's superuser
    "anon",  # no credentials
)
OPERATOR_A = ("op_admin", "op_member", "op_readonly")
A_WRITERS = ("op_admin", "op_member")


@dataclass(frozen=True)
class Outcome:
    label: str
    codes: frozenset
    problem: str = ""  # the problem-details `code` the answer must carry, where it matters

    def matches(self, status):
        return status in self.codes

    def __repr__(self):
        return self.label


def _codes(*ranges):
    out = set()
    for r in ranges:
        out |= set(r) if isinstance(r, range) else {r}
    return frozenset(out)


def problem(status, code):
    return Outcome(f"{status} {code}", _codes(status), code)


OK = Outcome("OK", _codes(range(200, 300)))
UNAUTH = Outcome("401", _codes(401))
FORBIDDEN = Outcome("403", _codes(403))
HIDDEN = Outcome("404", _codes(404))
NOT_ALLOWED = Outcome("405", _codes(405))
# Allowed to ask, but this body is judged invalid or conflicting (400/409/422): no 2xx, no change.
INVALID = Outcome("invalid", _codes(400, 409, 422))
# Refused, however: any 4xx but 401. Used where the fix may answer 400, 403 or 409.
REFUSED = Outcome("refused", _codes(range(400, 401), range(402, 500)))
REFUSED_OR_HIDDEN = Outcome("403/404", _codes(403, 404))
# Console: a page, or a redirect after a successful form (302/303).
# Accepted without the privilege asked for, or refused: what the `check` then verifies.
NO_STAFF_MADE = Outcome("2xx without staff, or refused", _codes(range(200, 300), 400, 403, 409, 422))
PAGE = Outcome("page", _codes(200))
DONE = Outcome("done", _codes(range(200, 300), 302, 303))
LOGIN = Outcome("login", _codes(302))
NOT_SIGNED_IN = Outcome("form again", _codes(200, 429))  # anonymous: redirected to the login page


@dataclass(frozen=True)
class Pending:
    """A cell today's code gets wrong; `item` names the issue-15 item whose fix makes it right."""

    item: str
    outcome: Outcome

    @property
    def label(self):
        return f"{self.outcome.label} (PENDING {self.item})"


def PENDING(item, outcome=REFUSED):  # a marker in the tables, hence the capitals
    return Pending(item, outcome)


def expect(default, **cells):
    """A row of the table: `default` for every role not named; anonymous is 401 unless named."""
    row = dict.fromkeys(ROLES, default)
    row["anon"] = UNAUTH
    for key, value in cells.items():
        for role in _expand(key):
            row[role] = value
    return row


GROUPS = {
    "op_a": OPERATOR_A,
    "a_writers": A_WRITERS,
    "insp": ("insp_in", "insp_out"),
}


def _expand(key):
    return GROUPS.get(key, (key,))


def cells(base, **overrides):
    row = dict(base)
    for key, value in overrides.items():
        for role in _expand(key):
            row[role] = value
    return row


@dataclass
class Case:
    """One request per role: path parameters from the world, a body, and what each role gets.

    `params(world, role)` fills the path template; `body(world, role)` returns the JSON
    body (or `Raw(bytes, content_type)`); `tables` are the models a refused write must
    leave unchanged (the transparency log is always checked)."""

    expect: dict
    name: str = ""
    params: Any = None
    body: Any = None
    query: str = ""
    query_fn: Any = None  # query_fn(world) -> a query string, when it needs the world
    tables: tuple = ()
    check: Any = None  # check(world, role, response) -> bool, for answers in 2xx
    logged: Any = None  # False: an accepted write of this case need not append a log event (else LOGGED)
    # The log events a refused write of this case appends by design (nothing else moves, the tables included):
    # a registration refused for naming another party's chips is told to their holders.
    refusal_logs: tuple = ()
    hides: Any = None  # hides(world) -> a text of A's object no role outside `sees` may be shown
    sees: tuple = ()

    def __post_init__(self):
        assert set(self.expect) == set(ROLES), self.expect


@dataclass(frozen=True)
class Raw:
    data: bytes
    content_type: str = "application/json"


@dataclass
class Form:
    """A console form: POST data for a role (None: a GET page only)."""

    data: Any = None
    extra: dict = field(default_factory=dict)


# --- the API ----------------------------------------------------------------------------------------


# Common rows. "A's object": something of operator A (op-demo) in A's US facility.
ALL = expect(OK)  # every authenticated party (lists are filtered: see `hides`)
PUBLIC = expect(OK, anon=OK)  # no credentials needed: the log's proofs, public keys
A_VIEW = expect(HIDDEN, op_a=OK, insp_in=OK, treaty=OK, registry_admin=OK)
# A write on A's object by A's writers; readers who see it get 403, the rest 404.
A_CHANGE = expect(HIDDEN, a_writers=OK, op_readonly=FORBIDDEN, insp_in=FORBIDDEN, treaty=FORBIDDEN, registry_admin=OK)
TREATY_ONLY = expect(FORBIDDEN, treaty=OK, registry_admin=OK)
ORG_ADMINS = expect(OK, op_member=FORBIDDEN, op_readonly=FORBIDDEN)
SUBSCRIBERS = expect(FORBIDDEN, insp=OK, treaty=OK, registry_admin=OK)


# Answers and requests (issue 17): what a refused one must leave as it was.
DISPUTES = (
    "compliance.Answer",
    "compliance.AnswerAttachment",
    "compliance.AnswerDecision",
    "compliance.ClarificationRequest",
    "compliance.Alert",
    "inventory.Finding",
)
ANSWERS = expect(
    HIDDEN, a_writers=OK, op_readonly=FORBIDDEN, insp_in=FORBIDDEN, treaty=FORBIDDEN, registry_admin=FORBIDDEN
)
ASKS = expect(
    HIDDEN, op_a=FORBIDDEN, op_other=FORBIDDEN, manufacturer=FORBIDDEN, insp_in=OK, treaty=OK, registry_admin=OK
)


# Challenge inspections (issue 19): what a refused step must leave as it was; who answers A's challenge.
CHALLENGES = ("inventory.ChallengeInspection", "inventory.SealRecord", "inventory.ChallengeSighting")
CHALLENGE_ANSWER = expect(
    HIDDEN, a_writers=OK, op_readonly=FORBIDDEN, insp_in=FORBIDDEN, treaty=FORBIDDEN, registry_admin=FORBIDDEN
)


def _just_now():
    from django.utils import timezone

    return timezone.now().isoformat()


def _rule(w):
    from inventory.models import ChallengeRule

    return {"id": str(ChallengeRule.objects.current().pk)}


# Tips and cases (issue 19): what a refused one must leave as it was.
CASEWORK = (
    "casework.Tip",
    "casework.TipAddition",
    "casework.Case",
    "casework.CaseLink",
    "casework.CaseStep",
    "casework.CaseInspectorate",
)
TIPS_READ = expect(HIDDEN, treaty=OK, registry_admin=OK)
# A read-only user is refused every write before any lookup (403, whatever the row): it learns nothing.
TIPS_TRIAGE = cells(TIPS_READ, op_readonly=FORBIDDEN)
CASE_READ = expect(HIDDEN, treaty=OK, registry_admin=OK, insp_in=OK)
CASE_WORK = expect(HIDDEN, treaty=OK, registry_admin=OK, insp_in=FORBIDDEN, op_readonly=FORBIDDEN)


def _id(attr, key="id", field="pk"):
    return lambda w, role: {key: str(getattr(getattr(w, attr), field))}


def _own_org(w, role):
    org = w.users[role].organisation if role != "anon" else None
    return {"code": org.code if org is not None else "treaty-demo"}


def _b(data):
    return lambda w, role: data(w, role) if callable(data) else data


def _lazy(name):
    def body(w, role):
        from tests.authz import bodies

        return getattr(bodies, name)(w, role)

    return body


def _when(hours=1):
    def value(w):
        from datetime import timedelta

        return (w.now - timedelta(hours=hours)).isoformat()

    return value


A_SEES = (*OPERATOR_A, "insp_in", "treaty", "registry_admin")


def _a_site(w):
    return f'"{w.facility_a.code}"'


# `hides`: for list routes, a text of A's object that must not appear in the answer of a
# role that may not see it (checked whatever the status).
API = {
    # registry: organisations, users, tokens, the catalog, chips
    ("GET", "/api/v1/organisations/"): [Case(ALL)],
    ("POST", "/api/v1/organisations/"): [
        Case(
            expect(FORBIDDEN, registry_admin=OK),
            body=lambda w, r: {
                "code": f"authz-{r[:8]}".replace("_", "-"),
                "name": "N",
                "kind": "operator",
                "country": "FR",
            },
            tables=("registry.Organisation",),
        ),
        Case(
            # An operator of no country would hold chips no country's totals count: refused, whoever asks.
            expect(FORBIDDEN, registry_admin=INVALID),
            name="operator without a country",
            body=lambda w, r: {"code": f"authz-n{r[:7]}".replace("_", "-"), "name": "N", "kind": "operator"},
            tables=("registry.Organisation",),
        ),
    ],
    ("GET", "/api/v1/organisations/{code}/"): [Case(ALL, params=lambda w, r: {"code": "op-demo"})],
    ("PATCH", "/api/v1/organisations/{code}/"): [
        Case(
            expect(FORBIDDEN, op_admin=OK, registry_admin=OK),
            name="rename A",
            params=lambda w, r: {"code": "op-demo"},
            body={"name": "Renamed by the matrix"},
            tables=("registry.Organisation",),
        ),
        Case(
            # Jurisdictions change only by a registry administrator or the treaty body.
            expect(
                REFUSED,
                insp_in=REFUSED,
                insp_out=REFUSED,
            ),
            name="own jurisdictions",
            params=_own_org,
            body={"jurisdictions": ["DE", "FR", "US"]},
            tables=("registry.Organisation",),
        ),
        Case(
            expect(
                REFUSED,
                op_admin=REFUSED,
                op_other=REFUSED,
                insp_in=REFUSED,
                insp_out=REFUSED,
                manufacturer=REFUSED,
                treaty=OK,
                registry_admin=OK,
            ),
            name="own country",
            params=_own_org,
            body={"country": "FR"},
            tables=("registry.Organisation",),
        ),
        Case(
            expect(FORBIDDEN, insp_in=REFUSED, treaty=OK, registry_admin=OK),
            name="an inspectorate's jurisdictions",
            params=lambda w, r: {"code": "insp-us"},
            body={"jurisdictions": ["CA", "US"]},
            tables=("registry.Organisation",),
        ),
        Case(
            # What an organisation is decides what every party sees: only a registry
            # administrator or the treaty body changes it (logged), never the organisation itself.
            expect(REFUSED, treaty=OK, registry_admin=OK),
            name="kind",
            params=lambda w, r: {"code": "op-demo"},
            body={"kind": "inspectorate"},
            tables=("registry.Organisation",),
        ),
    ],
    ("GET", "/api/v1/users/"): [Case(ALL, hides=lambda w: "authz-op-viewer", sees=(*OPERATOR_A, "registry_admin"))],
    ("POST", "/api/v1/users/"): [
        Case(
            # A new user is a role granted: logged like a change of role.
            cells(
                ORG_ADMINS,
                op_admin=OK,
                op_other=OK,
                insp=OK,
                manufacturer=OK,
                treaty=OK,
                registry_admin=OK,
            ),
            body=lambda w, r: {"username": f"authz-new-{r}", "role": "member"},
            tables=("registry.User",),
        ),
        Case(
            # Org admins never make staff or superusers: the flags are ignored (2xx, a plain user) or
            # refused; either way no staff user exists afterwards.
            expect(NO_STAFF_MADE, op_member=FORBIDDEN, op_readonly=FORBIDDEN),
            name="a staff user",
            body=lambda w, r: {"username": f"authz-staff-{r}", "role": "admin", "is_staff": True, "is_superuser": True},
            tables=("registry.User",),
            check=lambda w, r, resp: _no_staff(f"authz-staff-{r}"),
            logged=False,  # the creation itself is the case above
        ),
    ],
    ("GET", "/api/v1/users/{id}/"): [
        Case(
            expect(HIDDEN, op_a=OK, registry_admin=OK),
            params=lambda w, r: {"id": str(w.users["op_readonly"].pk)},
        )
    ],
    ("PATCH", "/api/v1/users/{id}/"): [
        Case(
            expect(HIDDEN, op_admin=OK, op_member=FORBIDDEN, op_readonly=FORBIDDEN, registry_admin=OK),
            name="A's read-only user made member",
            params=lambda w, r: {"id": str(w.users["op_readonly"].pk)},
            body={"role": "member"},
            tables=("registry.User",),
        ),
        Case(
            # Org admins never manage superusers or staff (the treaty body's admin shares an org with one).
            expect(
                HIDDEN,
                op_member=FORBIDDEN,
                op_readonly=FORBIDDEN,
                treaty=REFUSED_OR_HIDDEN,
                registry_admin=OK,
            ),
            name="superuser's password",
            params=lambda w, r: {"id": str(w.users["registry_admin"].pk)},
            body={"password": "taken-over-by-the-matrix-9"},
            logged=False,  # a password is not a record anyone relies on
            tables=("registry.User",),
        ),
    ],
    ("GET", "/api/v1/tokens/"): [
        Case(ALL, hides=lambda w: "authz-op-member", sees=("op_admin", "op_member", "registry_admin"))
    ],
    ("POST", "/api/v1/tokens/"): [Case(ALL, body={"name": "matrix"}, tables=())],
    ("GET", "/api/v1/tokens/{id}/"): [
        Case(
            expect(HIDDEN, op_admin=OK, op_member=OK, registry_admin=OK),
            params=lambda w, r: {"id": str(w.token_member.pk)},
        )
    ],
    ("DELETE", "/api/v1/tokens/{id}/"): [
        Case(
            expect(HIDDEN, op_admin=OK, op_member=OK, registry_admin=OK),
            params=lambda w, r: {"id": str(w.token_member.pk)},
            tables=("registry.APIToken",),
        )
    ],
    ("POST", "/api/v1/tokens/{id}/revoke/"): [
        Case(
            expect(HIDDEN, op_admin=OK, op_member=OK, registry_admin=OK),
            params=lambda w, r: {"id": str(w.token_member.pk)},
            tables=("registry.APIToken",),
        )
    ],
    ("GET", "/api/v1/models/"): [Case(ALL)],
    ("GET", "/api/v1/models/{slug}/"): [Case(ALL, params=lambda w, r: {"slug": "nvidia-h100-sxm5-80gb"})],
    ("PATCH", "/api/v1/models/{slug}/"): [
        Case(
            expect(FORBIDDEN, treaty=OK, registry_admin=OK),
            params=lambda w, r: {"slug": "nvidia-h100-sxm5-80gb"},
            body={"tdp_w": 701, "reason": "datasheet rev B"},
            tables=("registry.AcceleratorModel", "registry.AcceleratorModelRevision"),
        )
    ],
    ("GET", "/api/v1/models/{slug}/revisions/"): [Case(ALL, params=lambda w, r: {"slug": "nvidia-h100-sxm5-80gb"})],
    ("GET", "/api/v1/chips/"): [
        Case(ALL, hides=lambda w: w.chip_a.serial, sees=(*OPERATOR_A, "insp_in", "treaty", "registry_admin"))
    ],
    ("POST", "/api/v1/chips/"): [
        Case(
            # Registry administrators register no chips: a chip is registered by its holder or maker.
            expect(FORBIDDEN, a_writers=OK, op_other=OK, manufacturer=OK),
            body=lambda w, r: [{"chip": f"nvidia:AUTHZ{ROLES.index(r):06d}", "model": "nvidia-h100-sxm5-80gb"}],
            tables=("registry.Chip",),
        ),
        Case(
            # Re-registering A's chip with other data: refused, and the answer says no more than
            # "registered to another party" to anyone but A (item 2; the fields are checked there).
            expect(
                INVALID,
                op_readonly=FORBIDDEN,
                op_other=REFUSED,
                manufacturer=REFUSED,
                insp=FORBIDDEN,
                treaty=FORBIDDEN,
                registry_admin=FORBIDDEN,
            ),
            name="A's chip again, other model",
            body=lambda w, r: [{"chip": w.chip_a.public_id, "model": "nvidia-h20"}],
            tables=("registry.Chip",),
            refusal_logs=("chips.registration_refused",),
            hides=lambda w: "model",
            sees=OPERATOR_A,
        ),
    ],
    ("GET", "/api/v1/chips/{id}/"): [Case(A_VIEW, params=lambda w, r: {"id": w.chip_a.public_id})],
    ("PATCH", "/api/v1/chips/{id}/"): [
        Case(
            A_CHANGE,
            name="status",
            params=lambda w, r: {"id": w.chip_a.public_id},
            body={"status": "lost"},
            tables=("registry.Chip",),
        ),
        Case(
            # Custody moves only through a transfer the receiver confirms.
            cells(A_CHANGE, a_writers=REFUSED, registry_admin=REFUSED),
            name="custodian",
            params=lambda w, r: {"id": w.chip_a.public_id},
            body={"custodian": "op-other"},
            tables=("registry.Chip",),
        ),
        Case(
            # B pushes its own chip onto A (the issue's attack): custody moves only by a confirmed transfer.
            expect(
                HIDDEN,
                op_readonly=FORBIDDEN,
                op_other=REFUSED,
                insp_out=FORBIDDEN,
                treaty=FORBIDDEN,
                registry_admin=REFUSED,
            ),
            name="B's chip onto A",
            params=lambda w, r: {"id": w.chip_b.public_id},
            body={"custodian": "op-demo"},
            tables=("registry.Chip",),
        ),
        Case(
            # A chip's model is corrected only by its manufacturer or the treaty body.
            # The maker of this nvidia chip corrects it even while A holds it (it cannot see it today).
            cells(
                A_CHANGE,
                a_writers=REFUSED,
                manufacturer=OK,
                treaty=OK,
            ),
            name="model",
            params=lambda w, r: {"id": w.chip_a.public_id},
            body={"model": "nvidia-h20", "reason": "relabelled"},
            tables=("registry.Chip",),
        ),
    ],
    ("GET", "/api/v1/chips/{id}/history/"): [Case(A_VIEW, params=lambda w, r: {"id": w.chip_a.public_id})],
    # Issue 19: chips leave the books only with evidence. The holder asks; an inspector of the chips' country
    # or the treaty body witnesses; nobody witnesses its own word; another party's chips read as none.
    ("GET", "/api/v1/disposals/"): [Case(ALL, hides=lambda w: "Matrix: shredded", sees=A_SEES)],
    ("POST", "/api/v1/disposals/"): [
        Case(
            expect(
                FORBIDDEN,
                a_writers=OK,
                # Another holder naming A's chip: the answer of a chip that does not exist.
                op_other=problem(400, "unknown_chips"),
                manufacturer=problem(400, "unknown_chips"),
            ),
            body=lambda w, r: {
                "kind": "destroyed",
                "chips": [w.chip_a.public_id],
                "method": "Matrix: crushed",
                "place": "Matrix site",
                "date": w.now.date().isoformat(),
                "attachments": [{"name": "c.pdf", "content_type": "application/pdf", "content": "JVBERi0xLjQ="}],
            },
            tables=("registry.DisposalRequest", "registry.DisposalChip", "registry.Chip"),
            hides=lambda w: "Matrix: crushed",
            sees=A_SEES,
        )
    ],
    ("GET", "/api/v1/disposals/{id}/"): [Case(A_VIEW, params=_id("disposal_a"))],
    ("GET", "/api/v1/disposals/{id}/attachments/{position}/"): [
        Case(A_VIEW, params=lambda w, r: {"id": str(w.disposal_a.pk), "position": "0"})
    ],
    ("POST", "/api/v1/disposals/{id}/accept/"): [
        Case(
            expect(
                HIDDEN,
                a_writers=problem(403, "not_witness"),
                op_readonly=FORBIDDEN,
                insp_in=OK,
                treaty=OK,
                registry_admin=OK,
            ),
            params=_id("disposal_a"),
            body={"reason": "witnessed by the matrix"},
            tables=("registry.DisposalRequest", "registry.Chip", "registry.ChipEvent"),
        )
    ],
    ("POST", "/api/v1/disposals/{id}/refuse/"): [
        Case(
            expect(
                HIDDEN,
                a_writers=problem(403, "not_witness"),
                op_readonly=FORBIDDEN,
                insp_in=OK,
                treaty=OK,
                registry_admin=OK,
            ),
            params=_id("disposal_a"),
            body={"reason": "refused by the matrix"},
            tables=("registry.DisposalRequest", "registry.Chip"),
        )
    ],
    # The watch list: lost and stolen chips, seen by whoever sees the chip (holder, its country, treaty body).
    ("GET", "/api/v1/watchlist/"): [Case(ALL, hides=lambda w: w.stolen_a.serial, sees=A_SEES)],
    ("GET", "/api/v1/watchlist/{id}/"): [Case(A_VIEW, params=lambda w, r: {"id": w.stolen_a.public_id})],
    # A manufacturer reports the chips it produced; its reports are its own and the treaty body's to read.
    ("GET", "/api/v1/manufacturer-reports/"): [
        Case(ALL, hides=lambda w: "MATRIX-REPORTED-1", sees=("manufacturer", "treaty", "registry_admin"))
    ],
    ("GET", "/api/v1/manufacturer-reports/{id}/"): [
        Case(expect(HIDDEN, manufacturer=OK, treaty=OK, registry_admin=OK), params=_id("report_m"))
    ],
    ("POST", "/api/v1/manufacturer-reports/"): [
        Case(
            expect(FORBIDDEN, manufacturer=OK),
            body={"serials": ["MATRIX-NEW-1"]},
            tables=("registry.ManufacturerReport",),
        )
    ],
    # Hardware evidence (HARDWARE.md): a chip's evidence history follows the chip's visibility; its device
    # identity is enrolled by its manufacturer (seen or not) or the treaty body; the holder sees but may not.
    ("GET", "/api/v1/chips/{id}/evidence/"): [Case(A_VIEW, params=lambda w, r: {"id": w.chip_a.public_id})],
    ("POST", "/api/v1/chips/{id}/identity/"): [
        Case(
            expect(HIDDEN, op_a=FORBIDDEN, insp_in=FORBIDDEN, manufacturer=OK, treaty=OK, registry_admin=OK),
            params=lambda w, r: {"id": w.chip_a.public_id},
            body={"device_identity": "nvidia-gh100:0ABC"},
            tables=("registry.HardwareIdentity", "inventory.Finding"),
        )
    ],
    # A challenge is asked for by an operator or the treaty body, for itself.
    ("POST", "/api/v1/challenges/"): [
        Case(
            expect(FORBIDDEN, a_writers=OK, op_other=OK, treaty=OK, registry_admin=OK),
            tables=("attestations.Challenge",),
        )
    ],
    # inventory
    ("GET", "/api/v1/facilities/"): [
        Case(ALL, hides=lambda w: w.facility_a.code, sees=(*OPERATOR_A, "insp_in", "treaty", "registry_admin"))
    ],
    ("POST", "/api/v1/facilities/"): [
        Case(
            expect(FORBIDDEN, a_writers=OK, op_other=OK, registry_admin=FORBIDDEN),
            body=lambda w, r: {
                "code": f"US-AZ-{ROLES.index(r):03d}",
                "name": "Matrix site",
                "country": "US",
                "latitude": 33.45,
                "longitude": -112.07,
            },
            tables=("inventory.Facility", "inventory.Campus"),
        )
    ],
    ("GET", "/api/v1/facilities/{code}/"): [
        Case(A_VIEW, params=lambda w, r: {"code": w.facility_a.code}),
        Case(
            # B's own site next to A's: B reads it, but nothing of A's facilities (not even via the campus code).
            expect(HIDDEN, op_other=OK, insp_in=OK, treaty=OK, registry_admin=OK),
            name="B's site in A's campus",
            params=lambda w, r: {"code": "US-VA-B01"},
            hides=lambda w: "US-VA-00",
            sees=(*OPERATOR_A, "insp_in", "treaty", "registry_admin"),
        ),
    ],
    ("PATCH", "/api/v1/facilities/{code}/"): [
        Case(
            A_CHANGE,
            name="name",
            params=lambda w, r: {"code": w.facility_a.code},
            body={"name": "Renamed hall"},
            tables=("inventory.Facility",),
        ),
        Case(
            # A facility's country agrees with its coordinates (Ashburn is in the US).
            cells(A_CHANGE, a_writers=REFUSED, registry_admin=REFUSED),
            name="country against coordinates",
            params=lambda w, r: {"code": w.facility_a.code},
            body={"country": "CA"},
            tables=("inventory.Facility",),
        ),
        Case(
            # Moving a facility: allowed to its operator, and the campus is recomputed (checked in item 6's tests).
            A_CHANGE,
            name="move",
            params=lambda w, r: {"code": w.facility_a.code},
            body={"latitude": 39.05, "longitude": -77.48},
            tables=("inventory.Facility", "inventory.Campus"),
        ),
    ],
    **{
        ("POST", f"/api/v1/facilities/{{code}}/{decision}/"): [
            Case(
                # The treaty body decides on facility declarations (Article V); the operator may not accept its
                # own, and nobody else is told more than 403 (before the facility is looked up).
                expect(FORBIDDEN, treaty=OK, registry_admin=OK),  # the registry's admin is a treaty-demo admin
                params=lambda w, r: {"code": w.facility_a.code},
                body={"reason": "decided by the matrix"},
                tables=("inventory.Facility",),
            )
        ]
        for decision in ("accept", "refuse")
    },
    ("GET", "/api/v1/facilities/{code}/inventory/"): [Case(A_VIEW, params=lambda w, r: {"code": w.facility_a.code})],
    ("GET", "/api/v1/facilities/{code}/reconciliation/"): [
        Case(A_VIEW, params=lambda w, r: {"code": w.facility_a.code})
    ],
    # A's campus also holds B's facility next door: B sees the campus, never A's facilities in it.
    ("GET", "/api/v1/campuses/"): [
        Case(
            cells(ALL, op_other=OK),
            hides=lambda w: '"US-VA-001"',
            sees=(*OPERATOR_A, "insp_in", "treaty", "registry_admin"),
        )
    ],
    ("GET", "/api/v1/campuses/{code}/"): [
        Case(
            cells(A_VIEW, op_other=OK),
            params=lambda w, r: {"code": w.campus_a.code},
            hides=lambda w: '"US-VA-001"',
            sees=(*OPERATOR_A, "insp_in", "treaty", "registry_admin"),
        )
    ],
    ("GET", "/api/v1/clusters/"): [
        Case(ALL, hides=lambda w: '"va-train-1"', sees=(*OPERATOR_A, "insp_in", "treaty", "registry_admin"))
    ],
    ("POST", "/api/v1/clusters/"): [
        Case(
            # A cluster in A's facility: only A's writers (B may not add clusters to A's site).
            expect(REFUSED, a_writers=OK, op_readonly=FORBIDDEN, registry_admin=OK),
            body=lambda w, r: {
                "code": f"mx-{r[:6]}".replace("_", "-"),
                "facility": w.facility_a.code,
                "purpose": "training",
            },
            tables=("inventory.Cluster",),
        )
    ],
    ("GET", "/api/v1/clusters/{id}/"): [Case(A_VIEW, params=_id("cluster_a"))],
    ("PATCH", "/api/v1/clusters/{id}/"): [
        Case(A_CHANGE, params=_id("cluster_a"), body={"interconnect_gbps": 3300}, tables=("inventory.Cluster",))
    ],
    # What ties A's sites: a link between its Ashburn and Texas sites, and a group running them together.
    ("GET", "/api/v1/links/"): [Case(ALL, hides=lambda w: '"a-wan"', sees=A_SEES)],
    ("POST", "/api/v1/links/"): [
        Case(
            # Between two of A's sites: A's writers only. B names A's sites and is told they are none of its own
            # (400, as for a code that does not exist); parties who run no sites are refused outright.
            expect(FORBIDDEN, a_writers=OK, op_other=INVALID, registry_admin=OK),
            body=lambda w, r: {
                "code": f"mx-{r[:8]}".replace("_", "-"),
                "a": {"facility": w.facility_a.code},
                "b": {"facility": w.facility_a2.code},
                "bandwidth_gbps": 400,
            },
            tables=("inventory.NetworkLink",),
        )
    ],
    ("GET", "/api/v1/links/{id}/"): [Case(A_VIEW, params=_id("link_a"))],
    ("PATCH", "/api/v1/links/{id}/"): [
        # Upwards: a lower bandwidth is a retirement and a new declaration (409 bandwidth_lowered).
        Case(A_CHANGE, params=_id("link_a"), body={"bandwidth_gbps": 800}, tables=("inventory.NetworkLink",))
    ],
    ("POST", "/api/v1/links/{id}/retire/"): [
        Case(A_CHANGE, params=_id("link_a"), body={}, tables=("inventory.NetworkLink",))
    ],
    ("GET", "/api/v1/workload-groups/"): [Case(ALL, hides=lambda w: '"a-job"', sees=A_SEES)],
    ("POST", "/api/v1/workload-groups/"): [
        Case(
            expect(FORBIDDEN, a_writers=OK, op_other=INVALID, registry_admin=OK),
            body=lambda w, r: {
                "code": f"mx-{r[:8]}".replace("_", "-"),
                "sites": [{"facility": w.facility_a.code}, {"facility": w.facility_a2.code}],
            },
            tables=("inventory.WorkloadGroup", "inventory.WorkloadGroupMember"),
        )
    ],
    ("GET", "/api/v1/workload-groups/{id}/"): [Case(A_VIEW, params=_id("group_a"))],
    ("PATCH", "/api/v1/workload-groups/{id}/"): [
        Case(A_CHANGE, params=_id("group_a"), body={"name": "renamed"}, tables=("inventory.WorkloadGroup",))
    ],
    ("POST", "/api/v1/workload-groups/{id}/retire/"): [
        Case(A_CHANGE, params=_id("group_a"), body={}, tables=("inventory.WorkloadGroup",))
    ],
    ("GET", "/api/v1/placements/"): [
        Case(ALL, hides=lambda w: w.chip_a.serial, sees=(*OPERATOR_A, "insp_in", "treaty", "registry_admin"))
    ],
    ("GET", "/api/v1/placements/{id}/"): [Case(A_VIEW, params=_id("placement_a"))],
    ("GET", "/api/v1/transfers/"): [Case(ALL)],
    ("POST", "/api/v1/transfers/"): [
        Case(
            # Shipping A's chip: only its custodian's writers.
            expect(REFUSED, a_writers=OK, op_readonly=FORBIDDEN),
            body=lambda w, r: {
                "receiver": "op-other",
                "shipped_at": _when()(w),
                "chips": [w.chip_a.public_id],
                "export_authorisation": w.licence_a,
            },
            # Refusing B says nothing of who holds the chip (item 2).
            hides=lambda w: "op-demo",
            sees=(*OPERATOR_A, "insp_in", "treaty", "registry_admin"),
            tables=("inventory.Transfer", "registry.Chip", "inventory.Placement"),
        )
    ],
    ("GET", "/api/v1/transfers/{id}/"): [
        # B ships to A, from DE to the US: both parties and both countries' inspectorates see it.
        Case(expect(HIDDEN, op_a=OK, op_other=OK, insp=OK, treaty=OK, registry_admin=OK), params=_id("transfer_in"))
    ],
    ("POST", "/api/v1/transfers/{id}/receive/"): [
        Case(
            # Only the receiver confirms; parties who see the transfer are refused (403, or 404 for the
            # receiving facility they cannot see).
            expect(
                HIDDEN,
                a_writers=OK,
                op_readonly=FORBIDDEN,
                registry_admin=FORBIDDEN,
                op_other=REFUSED_OR_HIDDEN,
                insp=REFUSED_OR_HIDDEN,
                treaty=REFUSED_OR_HIDDEN,
            ),
            params=_id("transfer_in"),
            body=lambda w, r: {"received_at": _when(0.5)(w), "facility": w.facility_a2.code, "chips": w.transfer_chips},
            tables=("inventory.Transfer", "registry.Chip", "inventory.Placement"),
        )
    ],
    # Issue 19, exports: A's pending request to export its chip from the US to B's German site. The custodian
    # requests; both operators, both countries' inspectorates and the treaty body see it (a third party: 404);
    # only the exporting country's inspectorate (insp_in) decides: not the importing one, not the treaty
    # body, not an operator deciding its own export.
    ("GET", "/api/v1/export-authorisations/"): [
        Case(
            ALL,
            hides=lambda w: str(w.export_a.pk),
            sees=(*OPERATOR_A, "op_other", "insp_in", "insp_out", "treaty", "registry_admin"),
        )
    ],
    ("POST", "/api/v1/export-authorisations/"): [
        Case(
            expect(
                REFUSED,
                a_writers=OK,
                op_readonly=FORBIDDEN,
                insp=FORBIDDEN,
                treaty=FORBIDDEN,
                registry_admin=FORBIDDEN,
            ),
            body=lambda w, r: {
                "receiver": "op-other",
                "destination_facility": w.facility_b.code,
                "reference": "US-BIS-MATRIX-2",
                "chips": [w.chip_a.public_id],
            },
            # Refusing B or the manufacturer says nothing of who holds the chip.
            hides=lambda w: "op-demo",
            sees=(*OPERATOR_A, "insp_in", "treaty", "registry_admin"),
            tables=("inventory.ExportAuthorisation",),
        )
    ],
    ("GET", "/api/v1/export-authorisations/{id}/"): [
        Case(
            expect(HIDDEN, op_a=OK, op_other=OK, insp=OK, treaty=OK, registry_admin=OK),
            params=_id("export_a"),
        )
    ],
    ("POST", "/api/v1/export-authorisations/{id}/approve/"): [
        Case(
            expect(
                FORBIDDEN,
                insp_in=OK,
                manufacturer=HIDDEN,
                insp_out=problem(403, "not_exporting_inspectorate"),
                treaty=problem(403, "not_exporting_inspectorate"),
            ),
            params=_id("export_a"),
            body={"reason": "licensed"},
            tables=("inventory.ExportAuthorisation",),
        )
    ],
    ("POST", "/api/v1/export-authorisations/{id}/refuse/"): [
        Case(
            expect(
                FORBIDDEN,
                insp_in=OK,
                manufacturer=HIDDEN,
                insp_out=problem(403, "not_exporting_inspectorate"),
                treaty=problem(403, "not_exporting_inspectorate"),
            ),
            params=_id("export_a"),
            body={"reason": "end user unknown"},
            tables=("inventory.ExportAuthorisation",),
        )
    ],
    # An approved authorisation no shipment used (A's licence) is revoked by the exporting inspectorate only.
    ("POST", "/api/v1/export-authorisations/{id}/revoke/"): [
        Case(
            expect(
                FORBIDDEN,
                insp_in=OK,
                manufacturer=HIDDEN,
                insp_out=problem(403, "not_exporting_inspectorate"),
                treaty=problem(403, "not_exporting_inspectorate"),
            ),
            params=lambda w, role: {"id": str(w.licence_a)},
            body={"reason": "receiver sanctioned"},
            tables=("inventory.ExportAuthorisation",),
        )
    ],
    ("GET", "/api/v1/destination-rules/"): [Case(ALL)],
    ("POST", "/api/v1/destination-rules/"): [
        Case(
            TREATY_ONLY,
            body=lambda w, r: {
                "key": "matrix-embargo",
                "name": "Matrix embargo, v2",
                "destinations": ["KP", "IR"],
                "effective_from": _when()(w),
            },
            tables=("compliance.DestinationRule",),
        )
    ],
    ("GET", "/api/v1/destination-rules/{id}/"): [Case(ALL, params=_id("destination_rule"))],
    ("DELETE", "/api/v1/destination-rules/{id}/"): [
        Case(TREATY_ONLY, params=_id("destination_rule"), tables=("compliance.DestinationRule",))
    ],
    ("GET", "/api/v1/declarations/"): [Case(ALL, hides=_a_site, sees=A_SEES)],
    ("POST", "/api/v1/declarations/"): [
        Case(
            # Another party's facility answers as no facility does (400 invalid, "You run no facility ..."), as
            # for a cluster or a link (README).
            expect(REFUSED, a_writers=OK, op_readonly=FORBIDDEN, registry_admin=OK),
            body=lambda w, r: {"facility": w.facility_a.code, "as_of": _when()(w), "chips": [w.chip_a.public_id]},
            tables=("inventory.Declaration", "inventory.Placement"),
        )
    ],
    ("GET", "/api/v1/declarations/{id}/"): [Case(A_VIEW, params=_id("declaration_a"))],
    ("GET", "/api/v1/inspections/"): [Case(ALL, hides=_a_site, sees=A_SEES)],
    ("POST", "/api/v1/inspections/"): [
        Case(
            # Inspectorates record inspections of facilities in their jurisdictions.
            expect(FORBIDDEN, insp_in=OK, insp_out=HIDDEN, registry_admin=REFUSED),
            body=lambda w, r: {
                "facility": w.facility_a.code,
                "performed_at": _when()(w),
                "observed": [w.chip_a.public_id],
            },
            tables=("inventory.Inspection", "inventory.AnyFinding"),
        )
    ],
    ("GET", "/api/v1/inspections/{id}/"): [Case(A_VIEW, params=_id("inspection_a"))],
    ("GET", "/api/v1/findings/"): [Case(ALL, hides=_a_site, sees=A_SEES)],
    ("GET", "/api/v1/findings/{id}/"): [Case(A_VIEW, params=_id("finding_a"))],
    ("POST", "/api/v1/findings/{id}/resolve/"): [
        Case(
            cells(A_VIEW, op_a=FORBIDDEN, insp_in=OK, treaty=OK, registry_admin=OK),
            params=_id("finding_a"),
            body={"reason": "seen on site by the matrix"},
            tables=("inventory.AnyFinding",),
        )
    ],
    # Challenge inspections (issue 19): the treaty body requests, or an inspectorate its rule allows (the world's
    # rule: insp-de in the US); A answers for its facility; the requester records; nobody else sees one.
    ("GET", "/api/v1/challenge-inspections/"): [Case(ALL, hides=lambda w: w.challenge_a.reason, sees=A_SEES)],
    ("POST", "/api/v1/challenge-inspections/"): [
        Case(
            expect(FORBIDDEN, insp_out=OK, treaty=OK, registry_admin=OK),
            body=lambda w, r: {"facility": w.facility_a.code, "reason": "matrix challenge", "case": "CASE-M"},
            tables=CHALLENGES,
        ),
        Case(
            # Coordinates in Germany: outside insp-de's rule (it may request in the US only).
            expect(FORBIDDEN, treaty=OK, registry_admin=OK),
            name="coordinates",
            body={"latitude": 50.11, "longitude": 8.68, "reason": "matrix challenge"},
            tables=CHALLENGES,
        ),
    ],
    ("GET", "/api/v1/challenge-inspections/{id}/"): [Case(A_VIEW, params=_id("challenge_a"))],
    ("POST", "/api/v1/challenge-inspections/{id}/acknowledge/"): [
        Case(CHALLENGE_ANSWER, params=_id("challenge_a"), body={"note": "matrix"}, tables=CHALLENGES)
    ],
    ("POST", "/api/v1/challenge-inspections/{id}/access/"): [
        Case(
            CHALLENGE_ANSWER,
            params=_id("challenge_a"),
            body={"decision": "refused", "reason": "matrix"},
            tables=CHALLENGES,
        )
    ],
    ("POST", "/api/v1/challenge-inspections/{id}/record/"): [
        Case(
            expect(HIDDEN, op_a=FORBIDDEN, insp_in=FORBIDDEN, treaty=OK, registry_admin=OK),
            params=_id("challenge_granted"),
            body=lambda w, r: {
                "performed_at": _just_now(),
                "observed": [w.chip_a.public_id],
                "seals": [{"seal": "M-1", "where": "cage"}],
            },
            tables=(*CHALLENGES, "inventory.Inspection", "inventory.AnyFinding"),
        )
    ],
    ("GET", "/api/v1/challenge-rules/"): [Case(ALL)],
    ("POST", "/api/v1/challenge-rules/"): [
        Case(
            TREATY_ONLY,
            body={"allowed": [{"inspectorate": "insp-us", "countries": ["DE"]}], "reason": "matrix"},
            tables=("inventory.ChallengeRule",),
        )
    ],
    ("GET", "/api/v1/challenge-rules/{id}/"): [Case(ALL, params=lambda w, r: _rule(w))],
    # attestations
    ("GET", "/api/v1/keys/"): [Case(ALL)],
    ("POST", "/api/v1/keys/"): [
        Case(
            expect(FORBIDDEN, a_writers=OK, op_other=OK, treaty=OK, registry_admin=OK),
            body=lambda w, r: {"public_key": w.new_pem(), "name": "matrix key"},
            tables=("attestations.SigningKey",),
        ),
        Case(
            # valid_from is never before registration (item 8): a backdated key is refused.
            expect(
                FORBIDDEN,
                a_writers=REFUSED,
                op_other=REFUSED,
                treaty=REFUSED,
                registry_admin=REFUSED,
            ),
            name="backdated valid_from",
            body=lambda w, r: {"public_key": w.new_pem(), "name": "backdated", "valid_from": "2024-01-01T00:00:00Z"},
            tables=("attestations.SigningKey",),
        ),
    ],
    ("GET", "/api/v1/keys/{keyid}/"): [Case(ALL, params=_id("key_a", "keyid", "keyid"))],
    ("POST", "/api/v1/keys/{keyid}/retire/"): [
        Case(
            expect(FORBIDDEN, a_writers=OK, registry_admin=OK),
            params=_id("key_a", "keyid", "keyid"),
            body={},
            tables=("attestations.SigningKey",),
        )
    ],
    ("POST", "/api/v1/keys/{keyid}/revoke/"): [
        Case(
            expect(FORBIDDEN, a_writers=OK, registry_admin=OK),
            params=_id("key_a", "keyid", "keyid"),
            body=lambda w, r: {"since": _when(2)(w), "reason": "matrix"},
            tables=("attestations.SigningKey", "attestations.Attestation"),
        )
    ],
    ("GET", "/api/v1/delegations/"): [Case(ALL)],
    ("POST", "/api/v1/delegations/"): [
        Case(
            # An operator's admins let another operator deliver their statements; nobody else delegates.
            expect(FORBIDDEN, op_admin=OK, op_other=OK),
            body=lambda w, r: {"uploader": "op-demo" if r == "op_other" else "op-other"},
            tables=("attestations.Delegation",),
        )
    ],
    ("GET", "/api/v1/delegations/{id}/"): [Case(A_VIEW, params=_id("delegation_a"))],
    ("POST", "/api/v1/delegations/{id}/revoke/"): [
        Case(
            # Either party's admins end it (the uploader here is a third operator, not a role of the table).
            expect(
                HIDDEN,
                op_admin=OK,
                op_member=FORBIDDEN,
                op_readonly=FORBIDDEN,
                insp_in=FORBIDDEN,
                treaty=FORBIDDEN,
                registry_admin=OK,
            ),
            params=_id("delegation_a"),
            body={},
            tables=("attestations.Delegation",),
        )
    ],
    ("GET", "/api/v1/landmarks/"): [Case(ALL)],
    ("POST", "/api/v1/landmarks/"): [
        Case(
            expect(FORBIDDEN, treaty=OK, registry_admin=OK),
            body=lambda w, r: {"code": f"lm-{r}".replace("_", "-"), "latitude": 1.0, "longitude": 2.0},
            tables=("attestations.Landmark",),
        )
    ],
    ("GET", "/api/v1/landmarks/{code}/"): [Case(ALL, params=lambda w, r: {"code": w.landmark})],
    ("GET", "/api/v1/attestations/"): [Case(ALL, hides=_a_site, sees=A_SEES)],
    ("POST", "/api/v1/attestations/"): [
        Case(
            # A's users as op-demo about A's facility; everyone else as op-other about A's facility.
            expect(
                FORBIDDEN,
                a_writers=OK,
                op_other=problem(403, "facility_not_operated"),
                registry_admin=problem(403, "facility_not_operated"),
            ),
            name="location",
            body=_lazy("statement_envelope"),
            tables=("attestations.Attestation", "inventory.Placement", "inventory.AnyFinding", "compliance.Alert"),
        ),
        Case(
            # B's usage at A's facility would count against A's thresholds.
            expect(
                FORBIDDEN,
                a_writers=OK,
                op_other=problem(403, "facility_not_operated"),
                registry_admin=problem(403, "facility_not_operated"),
            ),
            name="usage",
            body=_lazy("usage_envelope"),
            tables=("attestations.Attestation", "attestations.AnyUsageRecord", "compliance.Alert"),
        ),
    ],
    ("GET", "/api/v1/attestations/{id}/"): [Case(A_VIEW, params=_id("attestation_a"))],
    ("GET", "/api/v1/attestations/{id}/envelope/"): [Case(A_VIEW, params=_id("attestation_a"))],
    ("GET", "/api/v1/attestations/{id}/receipt/"): [Case(A_VIEW, params=_id("attestation_a"))],
    ("GET", "/api/v1/rejections/"): [
        Case(ALL, hides=lambda w: '"op-demo"', sees=(*OPERATOR_A, "treaty", "registry_admin"))
    ],
    ("GET", "/api/v1/rejections/{id}/"): [
        # Refused submissions are their sender's and the treaty body's business.
        Case(expect(HIDDEN, op_a=OK, treaty=OK, registry_admin=OK), params=_id("rejection_a"))
    ],
    ("GET", "/api/v1/usage/"): [Case(ALL, hides=_a_site, sees=A_SEES)],
    ("GET", "/api/v1/usage/total/"): [Case(ALL, query="facility=US-VA-001")],
    # compliance
    ("GET", "/api/v1/thresholds/"): [Case(ALL)],
    ("POST", "/api/v1/thresholds/"): [Case(TREATY_ONLY, body=_lazy("rule"), tables=("compliance.ThresholdRule",))],
    ("GET", "/api/v1/thresholds/{id}/"): [Case(ALL, params=_id("rule"))],
    ("PATCH", "/api/v1/thresholds/{id}/"): [
        Case(TREATY_ONLY, params=_id("rule"), body={"value": 41}, tables=("compliance.ThresholdRule",))
    ],
    ("DELETE", "/api/v1/thresholds/{id}/"): [
        Case(TREATY_ONLY, params=_id("rule"), tables=("compliance.ThresholdRule",))
    ],
    ("GET", "/api/v1/aggregates/"): [Case(ALL, hides=_a_site, sees=A_SEES)],
    ("GET", "/api/v1/alerts/"): [Case(ALL, hides=_a_site, sees=A_SEES)],
    ("GET", "/api/v1/alerts/{id}/"): [Case(A_VIEW, params=_id("alert_a"))],
    ("GET", "/api/v1/alerts/{id}/chips/"): [Case(A_VIEW, params=_id("alert_a"))],
    # The evidence bundle: whoever sees the alert (another country's inspectorate: 404).
    ("GET", "/api/v1/alerts/{id}/bundle/"): [Case(A_VIEW, params=_id("alert_a"))],
    **{
        ("POST", f"/api/v1/alerts/{{id}}/{action}/"): [
            Case(
                # Inspectorates (in their jurisdictions) and treaty bodies handle alerts; operators answer them.
                # Operators and manufacturers are refused before the alert is looked up: 403 tells nothing.
                cells(A_VIEW, op_a=FORBIDDEN, op_other=FORBIDDEN, manufacturer=FORBIDDEN),
                params=_id("alert_a"),
                body={"reason": "handled by the matrix"},
                tables=("compliance.Alert",),
            )
        ]
        for action in ("acknowledge", "resolve", "dismiss")
    },
    # declared runs: the operator declares and withdraws, the treaty body decides, inspectorates read theirs
    ("GET", "/api/v1/runs/"): [Case(ALL, hides=lambda w: w.run_a.code, sees=A_SEES)],
    ("POST", "/api/v1/runs/"): [
        Case(
            # B names A's facility: the answer a facility that does not exist gets (400), nothing stored.
            expect(FORBIDDEN, a_writers=OK, op_other=INVALID),
            body=_lazy("run"),
            tables=("runs.Run",),
        )
    ],
    ("GET", "/api/v1/runs/{code}/"): [Case(A_VIEW, params=_id("run_a", "code", "code"))],
    **{
        ("POST", f"/api/v1/runs/{{code}}/{action}/"): [
            Case(
                # Only the treaty body decides; those who see the run but may not decide get 403.
                cells(A_VIEW, op_a=FORBIDDEN, insp_in=FORBIDDEN),
                params=_id("run_a", "code", "code"),
                body={"reason": "decided by the matrix"},
                tables=("runs.Run",),
            )
        ]
        for action in ("approve", "object")
    },
    ("POST", "/api/v1/runs/{code}/withdraw/"): [
        Case(
            # Only its operator calls a run off (the registry administrator neither).
            cells(A_CHANGE, registry_admin=FORBIDDEN),
            params=_id("run_a", "code", "code"),
            body={"reason": "withdrawn by the matrix"},
            tables=("runs.Run",),
        )
    ],
    # Answers and requests for clarification (issue 17). The party concerned answers, for itself only: whoever
    # else sees the subject is refused (403 not_party), whoever does not gets the 404 of a missing one.
    ("POST", "/api/v1/findings/{id}/answers/"): [
        Case(ANSWERS, params=_id("finding_a"), body={"explanation": "answered by the matrix"}, tables=DISPUTES)
    ],
    ("POST", "/api/v1/alerts/{id}/answers/"): [
        Case(ANSWERS, params=_id("alert_a"), body={"explanation": "answered by the matrix"}, tables=DISPUTES)
    ],
    # The treaty body and the inspectorates of its countries ask; other kinds are refused before the lookup.
    ("POST", "/api/v1/findings/{id}/clarifications/"): [
        Case(ASKS, params=_id("finding_a"), body={"question": "asked by the matrix"}, tables=DISPUTES)
    ],
    ("POST", "/api/v1/alerts/{id}/clarifications/"): [
        Case(ASKS, params=_id("alert_a"), body={"question": "asked by the matrix"}, tables=DISPUTES)
    ],
    ("GET", "/api/v1/answers/"): [Case(ALL, hides=lambda w: "Matrix: A's answer", sees=A_SEES)],
    ("GET", "/api/v1/answers/{id}/"): [Case(A_VIEW, params=_id("answer_a"))],
    ("GET", "/api/v1/answers/{id}/attachments/{position}/"): [
        Case(A_VIEW, params=lambda w, r: {"id": str(w.answer_a.pk), "position": "0"})
    ],
    ("POST", "/api/v1/answers/{id}/decide/"): [
        Case(
            # The US inspectorate asked: it decides, as does the treaty body; A does not judge its own answer.
            ASKS,
            params=_id("answer_a"),
            body={"decision": "accept", "reason": "decided by the matrix"},
            tables=DISPUTES,
        )
    ],
    ("GET", "/api/v1/clarifications/"): [Case(ALL, hides=lambda w: "Matrix: where are", sees=A_SEES)],
    ("GET", "/api/v1/clarifications/{id}/"): [Case(A_VIEW, params=_id("clarification_a"))],
    # Tips and cases (issue 19). Anyone sends a tip, signed in or not (read-only users too: a tip changes no
    # record of theirs), and adds to it with its receipt code; only the treaty body reads and triages them
    # (the registry administrator here is a treaty body's admin). Cases: the treaty body works them; the
    # inspectorate it added (insp_in) reads case A and is refused its writes; nobody else learns it exists.
    ("GET", "/api/v1/tips/"): [Case(ALL, hides=lambda w: str(w.tip_a.ref), sees=("treaty", "registry_admin"))],
    ("POST", "/api/v1/tips/"): [
        Case(expect(OK, anon=OK), body={"text": "Sent by the matrix", "serials": ["nvidia:MATRIX1"]}, tables=CASEWORK)
    ],
    ("POST", "/api/v1/tips/additions/"): [
        Case(
            expect(OK, anon=OK),
            body=lambda w, r: {"receipt": w.tip_a_receipt, "text": "Added by the matrix"},
            tables=CASEWORK,
        ),
        Case(
            # A code no tip has adds to nothing, for anyone.
            expect(problem(404, "unknown_receipt"), anon=problem(404, "unknown_receipt")),
            name="unknown receipt",
            body={"receipt": "tip_" + "M" * 43, "text": "x"},
            tables=CASEWORK,
        ),
    ],
    ("GET", "/api/v1/tips/{ref}/"): [Case(TIPS_READ, params=_id("tip_a", "ref", "ref"))],
    ("POST", "/api/v1/tips/{ref}/triage/"): [
        Case(
            TIPS_TRIAGE,
            params=_id("tip_a", "ref", "ref"),
            body={"action": "dismiss", "reason": "dismissed by the matrix"},
            tables=CASEWORK,
        )
    ],
    ("GET", "/api/v1/cases/"): [Case(ALL, hides=lambda w: w.case_a.code, sees=("treaty", "registry_admin", "insp_in"))],
    ("POST", "/api/v1/cases/"): [Case(TREATY_ONLY, body={"title": "Opened by the matrix"}, tables=CASEWORK)],
    ("GET", "/api/v1/cases/{code}/"): [Case(CASE_READ, params=_id("case_a", "code", "code"))],
    ("POST", "/api/v1/cases/{code}/links/"): [
        Case(
            CASE_WORK,
            params=_id("case_a", "code", "code"),
            body=lambda w, r: {"kind": "finding", "target": str(w.finding_a.pk)},
            tables=CASEWORK,
        )
    ],
    ("POST", "/api/v1/cases/{code}/state/"): [
        Case(CASE_WORK, params=_id("case_a", "code", "code"), body={"state": "under_inspection"}, tables=CASEWORK)
    ],
    ("POST", "/api/v1/cases/{code}/inspectorates/"): [
        Case(CASE_WORK, params=_id("case_a", "code", "code"), body={"organisation": "insp-de"}, tables=CASEWORK)
    ],
    ("DELETE", "/api/v1/cases/{code}/inspectorates/{organisation}/"): [
        Case(
            CASE_WORK,
            params=lambda w, r: {"code": w.case_a.code, "organisation": "insp-us"},
            tables=CASEWORK,
        )
    ],
    ("GET", "/api/v1/subscriptions/"): [Case(SUBSCRIBERS)],
    ("POST", "/api/v1/subscriptions/"): [
        Case(
            SUBSCRIBERS,
            body={"name": "matrix", "email": "matrix@example.org", "min_severity": "high"},
            tables=("compliance.Subscription",),
        ),
        Case(
            # A 6to4 address embedding 127.0.0.1 is a loopback webhook (robustness list of issue 15).
            expect(
                FORBIDDEN,
                insp=REFUSED,
                treaty=REFUSED,
                registry_admin=REFUSED,
            ),
            name="6to4 loopback webhook",
            body={"name": "6to4", "webhook_url": "http://[2002:7f00:1::1]/hook", "min_severity": "high"},
            tables=("compliance.Subscription",),
        ),
    ],
    ("GET", "/api/v1/subscriptions/{id}/"): [
        # The US inspectorate's own subscription: nobody else's business.
        Case(
            expect(FORBIDDEN, insp_in=OK, insp_out=HIDDEN, treaty=HIDDEN, registry_admin=OK), params=_id("subscription")
        )
    ],
    ("PATCH", "/api/v1/subscriptions/{id}/"): [
        Case(
            expect(FORBIDDEN, insp_in=OK, insp_out=HIDDEN, treaty=HIDDEN, registry_admin=OK),
            params=_id("subscription"),
            body={"email": "elsewhere@example.org"},
            tables=("compliance.Subscription",),
        )
    ],
    ("DELETE", "/api/v1/subscriptions/{id}/"): [
        Case(
            expect(FORBIDDEN, insp_in=OK, insp_out=HIDDEN, treaty=HIDDEN, registry_admin=OK),
            params=_id("subscription_spare"),
            tables=("compliance.Subscription",),
        )
    ],
    ("POST", "/api/v1/subscriptions/{id}/rotate-secret/"): [
        Case(
            expect(FORBIDDEN, insp_in=OK, insp_out=HIDDEN, treaty=HIDDEN, registry_admin=OK),
            params=_id("subscription"),
            tables=("compliance.Subscription",),
        )
    ],
    ("GET", "/api/v1/deliveries/"): [Case(SUBSCRIBERS)],
    ("GET", "/api/v1/deliveries/{id}/"): [
        Case(expect(FORBIDDEN, insp_in=OK, insp_out=HIDDEN, treaty=HIDDEN, registry_admin=OK), params=_id("delivery"))
    ],
    ("POST", "/api/v1/deliveries/{id}/replay/"): [
        Case(
            expect(FORBIDDEN, insp_in=OK, insp_out=HIDDEN, treaty=HIDDEN, registry_admin=OK),
            params=_id("delivery"),
            tables=("compliance.Delivery",),
        )
    ],
    ("GET", "/api/v1/webhooks/key"): [Case(PUBLIC)],
    # the transparency log
    ("GET", "/api/v1/log/checkpoint"): [Case(PUBLIC)],
    ("GET", "/api/v1/log/key"): [Case(PUBLIC)],
    ("GET", "/api/v1/log/entries/{index}"): [
        # A statement's leaf holds only its hash and signatures: any authenticated party may fetch it.
        Case(ALL, name="A's statement leaf", params=lambda w, r: {"index": str(w.attestation_a.log_index)}),
        # Event data (A's facility registered) is for A, the US inspectorate and the treaty body;
        # refusing an index that exists says nothing new (403, not 404).
        Case(
            cells(A_VIEW, op_other=FORBIDDEN, insp_out=FORBIDDEN, manufacturer=FORBIDDEN),
            name="A's event",
            params=lambda w, r: {"index": str(w.event_a)},
            hides=lambda w: "US-VA-002",
            sees=(*OPERATOR_A, "insp_in", "treaty", "registry_admin"),
        ),
        Case(
            # The campus event names A's and B's sites: it is for the treaty body and the
            # inspectorates of its countries; each operator reads its own campus.membership event.
            cells(
                A_VIEW,
                op_a=FORBIDDEN,
                op_other=FORBIDDEN,
                insp_out=FORBIDDEN,
                manufacturer=FORBIDDEN,
            ),
            name="campus event",
            params=lambda w, r: {"index": str(w.campus_event)},
        ),
        Case(
            # ... and A reads its own membership of the campus, which names no site of B.
            cells(A_VIEW, op_other=FORBIDDEN, insp_in=FORBIDDEN, insp_out=FORBIDDEN, manufacturer=FORBIDDEN),
            name="A's campus membership",
            params=lambda w, r: {"index": str(w.membership_event_a)},
            check=lambda w, r, response: "US-VA-B01" not in response.content.decode(),
        ),
    ],
    ("GET", "/api/v1/log/proof/inclusion"): [Case(PUBLIC, query="index=0&size=1")],
    ("GET", "/api/v1/log/proof/consistency"): [Case(PUBLIC, query="first=1&second=1")],
    ("POST", "/api/v1/log/cosignatures"): [
        Case(
            # Only the witness key's own organisation may cosign; this line is not a valid signature.
            expect(INVALID, op_readonly=FORBIDDEN),
            body=lambda w, r: {"witness": "authz-witness", "size": w.log_size, "line": "— authz-witness AAAA"},
            tables=("transparency.Cosignature",),
        )
    ],
    ("GET", "/api/v1/log/witnesses/"): [Case(ALL)],
    ("POST", "/api/v1/log/witnesses/"): [
        Case(
            expect(FORBIDDEN, insp=OK, treaty=OK, registry_admin=OK),
            body=lambda w, r: {"name": f"authz-w-{r}", "public_key": w.new_pem()},
            tables=("transparency.WitnessKey",),
        )
    ],
    ("GET", "/api/v1/log/witnesses/{id}/"): [Case(ALL, params=lambda w, r: {"id": str(w.witness)})],
    # The treaty body's witness key: its organisation (or the registry's administrator) retires it; another
    # witness organisation sees it (witness keys are public) and may not; other parties witness nothing.
    ("DELETE", "/api/v1/log/witnesses/{id}/"): [
        Case(
            expect(FORBIDDEN, treaty=OK, registry_admin=OK),
            params=lambda w, r: {"id": str(w.witness)},
            tables=("transparency.WitnessKey",),
        )
    ],
}


def _no_staff(username):
    from registry.models import User

    return (
        not User.objects.filter(username=username, is_staff=True).exists()
        and not User.objects.filter(username=username, is_superuser=True).exists()
    )


# --- the console --------------------------------------------------------------------------------------

# Keyed by (URL name in console/urls.py, method). Anonymous visitors are sent to the login page.
REDIRECT = Outcome("302", _codes(302))
C_ALL = expect(PAGE, anon=LOGIN)
C_A_VIEW = expect(HIDDEN, op_a=PAGE, insp_in=PAGE, treaty=PAGE, registry_admin=PAGE, anon=LOGIN)
POST_ONLY = expect(NOT_ALLOWED, anon=LOGIN)
C_ANSWERS = expect(
    HIDDEN,
    a_writers=DONE,
    op_readonly=FORBIDDEN,
    insp_in=FORBIDDEN,
    treaty=FORBIDDEN,
    registry_admin=FORBIDDEN,
    anon=LOGIN,
)
# The console looks the subject up first (a 404 page for what one does not see), then asks who may ask.
C_ASKS = expect(HIDDEN, op_a=FORBIDDEN, insp_in=DONE, treaty=DONE, registry_admin=DONE, anon=LOGIN)


C_TIPS_READ = expect(HIDDEN, treaty=PAGE, registry_admin=PAGE, anon=LOGIN)
C_CASE_WORK = expect(HIDDEN, treaty=DONE, registry_admin=DONE, insp_in=FORBIDDEN, op_readonly=FORBIDDEN, anon=LOGIN)


def _hides_a(w):
    return "US-VA-001"


def _inspection_upload(w, role):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return {
        "facility": w.facility_a.code,
        "performed_at": (w.now.replace(microsecond=0, tzinfo=None)).strftime("%Y-%m-%dT%H:%M"),
        "inspectors": "Matrix",
        "observed": SimpleUploadedFile("seen.csv", f"chip\n{w.chip_a.public_id}\n".encode(), "text/csv"),
    }


CONSOLE = {
    ("login", "GET"): [Case(expect(REDIRECT, anon=PAGE))],
    ("login", "POST"): [
        # A wrong password re-renders the form (or is throttled), never signs in; a signed-in user is sent on.
        Case(
            expect(REDIRECT, anon=NOT_SIGNED_IN),
            body={"username": "authz-no-such-user", "password": "wrong-password"},
        )
    ],
    ("logout", "GET"): [Case(expect(NOT_ALLOWED, anon=NOT_ALLOWED))],
    ("logout", "POST"): [Case(expect(REDIRECT, anon=REDIRECT), body={})],
    ("dashboard", "GET"): [Case(C_ALL, hides=_hides_a, sees=A_SEES)],
    ("map", "GET"): [Case(C_ALL, hides=_hides_a, sees=A_SEES)],
    # An exact chip id goes straight to the chip for those who see it; the rest find nothing.
    ("search", "GET"): [
        Case(
            cells(C_A_VIEW, op_a=REDIRECT, insp_in=REDIRECT, treaty=REDIRECT, registry_admin=REDIRECT),
            query_fn=lambda w: f"q={w.chip_a.public_id}",
        )
    ],
    ("facilities", "GET"): [Case(C_ALL, hides=_hides_a, sees=A_SEES)],
    ("facility", "GET"): [
        Case(C_A_VIEW, params=lambda w, r: {"code": w.facility_a.code}),
        Case(
            # B's own site in A's campus: no word of A's facilities on B's page.
            expect(HIDDEN, op_other=PAGE, insp_in=PAGE, treaty=PAGE, registry_admin=PAGE, anon=LOGIN),
            name="B's site in A's campus",
            params=lambda w, r: {"code": "US-VA-B01"},
            hides=lambda w: "US-VA-00",
            sees=A_SEES,
        ),
    ],
    ("reconciliation", "GET"): [Case(C_A_VIEW, params=lambda w, r: {"code": w.facility_a.code})],
    ("chip", "GET"): [Case(C_A_VIEW, params=lambda w, r: {"public_id": w.chip_a.public_id})],
    ("alerts", "GET"): [Case(C_ALL, hides=_hides_a, sees=A_SEES)],
    ("alert", "GET"): [Case(C_A_VIEW, params=lambda w, r: {"pk": w.alert_a.pk})],
    ("alert-chips", "GET"): [Case(C_A_VIEW, params=lambda w, r: {"pk": w.alert_a.pk})],
    ("alert-bundle", "GET"): [Case(C_A_VIEW, params=lambda w, r: {"pk": w.alert_a.pk})],
    ("alert-transition", "GET"): [Case(POST_ONLY, params=lambda w, r: {"pk": w.alert_a.pk, "action": "acknowledge"})],
    ("alert-transition", "POST"): [
        Case(
            # Inspectorates in jurisdiction and treaty bodies handle alerts; A may only look.
            expect(HIDDEN, op_a=FORBIDDEN, insp_in=DONE, treaty=DONE, registry_admin=DONE, anon=LOGIN),
            params=lambda w, r: {"pk": w.alert_a.pk, "action": "acknowledge"},
            body={"reason": "handled by the matrix"},
            tables=("compliance.Alert", "compliance.AlertTransition"),
        )
    ],
    # Answers and requests (issue 17): the same rules as the API's, page by page.
    ("alert-answer", "GET"): [Case(POST_ONLY, params=lambda w, r: {"pk": w.alert_a.pk})],
    ("alert-answer", "POST"): [
        Case(C_ANSWERS, params=lambda w, r: {"pk": w.alert_a.pk}, body={"explanation": "matrix"}, tables=DISPUTES)
    ],
    ("alert-clarify", "GET"): [Case(POST_ONLY, params=lambda w, r: {"pk": w.alert_a.pk})],
    ("alert-clarify", "POST"): [
        Case(
            C_ASKS, params=lambda w, r: {"pk": w.alert_a.pk}, body={"question": "asked by the matrix"}, tables=DISPUTES
        )
    ],
    ("finding", "GET"): [Case(C_A_VIEW, params=lambda w, r: {"pk": w.finding_a.pk})],
    ("finding-answer", "GET"): [Case(POST_ONLY, params=lambda w, r: {"pk": w.finding_a.pk})],
    ("finding-answer", "POST"): [
        Case(C_ANSWERS, params=lambda w, r: {"pk": w.finding_a.pk}, body={"explanation": "matrix"}, tables=DISPUTES)
    ],
    ("finding-clarify", "GET"): [Case(POST_ONLY, params=lambda w, r: {"pk": w.finding_a.pk})],
    ("finding-clarify", "POST"): [
        Case(
            C_ASKS,
            params=lambda w, r: {"pk": w.finding_a.pk},
            body={"question": "asked by the matrix"},
            tables=DISPUTES,
        )
    ],
    ("answer-decide", "GET"): [Case(POST_ONLY, params=lambda w, r: {"pk": w.answer_a.pk})],
    ("answer-decide", "POST"): [
        Case(
            C_ASKS,
            params=lambda w, r: {"pk": w.answer_a.pk},
            body={"decision": "accept", "reason": "decided by the matrix"},
            tables=DISPUTES,
        )
    ],
    ("answer-attachment", "GET"): [Case(C_A_VIEW, params=lambda w, r: {"pk": w.answer_a.pk, "position": 0})],
    # Challenge inspections with their clocks (issue 19): each party sees the ones restrict() shows it.
    ("challenges", "GET"): [Case(C_ALL, hides=_hides_a, sees=A_SEES)],
    ("challenge-new", "GET"): [Case(expect(FORBIDDEN, insp=PAGE, treaty=PAGE, registry_admin=PAGE, anon=LOGIN))],
    ("challenge-new", "POST"): [
        Case(
            # The world's rule lets insp-de request in the US; insp-us it names nowhere (the form says so).
            expect(FORBIDDEN, insp_in=INVALID, insp_out=DONE, treaty=DONE, registry_admin=DONE, anon=LOGIN),
            body={"facility": "US-VA-001", "reason": "matrix challenge", "case": "CASE-M"},
            tables=CHALLENGES,
        )
    ],
    ("challenge", "GET"): [Case(C_A_VIEW, params=lambda w, r: {"pk": w.challenge_a.pk})],
    ("challenge-step", "GET"): [Case(POST_ONLY, params=lambda w, r: {"pk": w.challenge_a.pk, "action": "acknowledge"})],
    ("challenge-step", "POST"): [
        Case(
            expect(
                HIDDEN,
                a_writers=DONE,
                op_readonly=FORBIDDEN,
                insp_in=FORBIDDEN,
                treaty=FORBIDDEN,
                registry_admin=FORBIDDEN,
                anon=LOGIN,
            ),
            name="acknowledge",
            params=lambda w, r: {"pk": w.challenge_a.pk, "action": "acknowledge"},
            body={"reason": "matrix"},
            tables=CHALLENGES,
        ),
        Case(
            expect(HIDDEN, op_a=FORBIDDEN, insp_in=FORBIDDEN, treaty=DONE, registry_admin=DONE, anon=LOGIN),
            name="record",
            params=lambda w, r: {"pk": w.challenge_granted.pk, "action": "record"},
            body=lambda w, r: {"performed_at": _just_now()[:16], "observed": "", "seals": "M-1@cage"},
            tables=(*CHALLENGES, "inventory.Inspection", "inventory.AnyFinding"),
        ),
    ],
    ("answers-due", "GET"): [
        Case(C_ALL, hides=lambda w: "Matrix: open question to A", sees=A_SEES),
    ],
    # Issue 19: requests awaiting witness (the witness's forms), the watch list.
    ("disposals", "GET"): [Case(C_ALL, hides=lambda w: "Matrix: shredded", sees=A_SEES)],
    ("disposal-attachment", "GET"): [Case(C_A_VIEW, params=lambda w, r: {"pk": w.disposal_a.pk, "position": 0})],
    ("disposal-decision", "GET"): [Case(POST_ONLY, params=lambda w, r: {"pk": w.disposal_a.pk, "action": "accept"})],
    ("disposal-decision", "POST"): [
        Case(
            # An inspector of the chips' country or the treaty body witnesses; the holder never its own request.
            expect(HIDDEN, op_a=FORBIDDEN, insp_in=DONE, treaty=DONE, registry_admin=DONE, anon=LOGIN),
            name="accept",
            params=lambda w, r: {"pk": w.disposal_a.pk, "action": "accept"},
            body={"reason": "witnessed by the matrix"},
            tables=("registry.DisposalRequest", "registry.Chip"),
        ),
        Case(
            expect(HIDDEN, op_a=FORBIDDEN, insp_in=DONE, treaty=DONE, registry_admin=DONE, anon=LOGIN),
            name="refuse",
            params=lambda w, r: {"pk": w.disposal_a.pk, "action": "refuse"},
            body={"reason": "refused by the matrix"},
            tables=("registry.DisposalRequest", "registry.Chip"),
        ),
    ],
    ("watchlist", "GET"): [Case(C_ALL, hides=lambda w: w.stolen_a.serial, sees=A_SEES)],
    ("inspections", "GET"): [Case(C_ALL, hides=_hides_a, sees=A_SEES)],
    ("inspection-new", "GET"): [Case(expect(FORBIDDEN, insp=PAGE, anon=LOGIN))],
    ("inspection-new", "POST"): [
        Case(
            # An inspectorate inspects facilities in its jurisdiction: DE's form has no US-VA-001.
            expect(FORBIDDEN, insp_in=DONE, insp_out=INVALID, anon=LOGIN),
            body=_inspection_upload,
            tables=("inventory.Inspection", "inventory.AnyFinding"),
        )
    ],
    ("inspection", "GET"): [Case(C_A_VIEW, params=lambda w, r: {"pk": w.inspection_a.pk})],
    ("inspection-csv", "GET"): [Case(C_A_VIEW, params=lambda w, r: {"pk": w.inspection_a.pk})],
    ("keys", "GET"): [Case(C_ALL)],
    ("keys", "POST"): [
        Case(
            expect(FORBIDDEN, a_writers=DONE, op_other=DONE, treaty=DONE, registry_admin=DONE, anon=LOGIN),
            body=lambda w, r: {"name": "matrix", "pem": w.new_pem()},
            tables=("attestations.SigningKey",),
        )
    ],
    ("key-retire", "GET"): [Case(POST_ONLY, params=lambda w, r: {"keyid": w.key_a.keyid})],
    ("key-retire", "POST"): [
        Case(
            expect(HIDDEN, a_writers=DONE, op_readonly=FORBIDDEN, registry_admin=DONE, anon=LOGIN),
            params=lambda w, r: {"keyid": w.key_a.keyid},
            body={},
            tables=("attestations.SigningKey",),
        )
    ],
    ("key-revoke", "GET"): [Case(POST_ONLY, params=lambda w, r: {"keyid": w.key_a.keyid})],
    ("key-revoke", "POST"): [
        Case(
            expect(HIDDEN, a_writers=DONE, op_readonly=FORBIDDEN, registry_admin=DONE, anon=LOGIN),
            params=lambda w, r: {"keyid": w.key_a.keyid},
            body=lambda w, r: {"since": (w.now.replace(tzinfo=None)).strftime("%Y-%m-%dT%H:%M"), "reason": "matrix"},
            tables=("attestations.SigningKey", "attestations.Attestation"),
        )
    ],
    ("submissions", "GET"): [Case(C_ALL, hides=_hides_a, sees=A_SEES)],
    # Tips and cases (issue 19): the tip inbox is the treaty body's; case A is read by the inspectorate the
    # treaty body added (insp_in), which may not change it; nobody else learns it exists.
    ("tips", "GET"): [Case(expect(FORBIDDEN, treaty=PAGE, registry_admin=PAGE, anon=LOGIN))],
    ("tip", "GET"): [Case(C_TIPS_READ, params=lambda w, r: {"ref": w.tip_a.ref})],
    ("tip-triage", "GET"): [Case(POST_ONLY, params=lambda w, r: {"ref": w.tip_a.ref})],
    ("tip-triage", "POST"): [
        Case(
            cells(C_TIPS_READ, treaty=DONE, registry_admin=DONE, op_readonly=FORBIDDEN),
            params=lambda w, r: {"ref": w.tip_a.ref},
            body={"action": "dismiss", "reason": "dismissed by the matrix"},
            tables=CASEWORK,
        )
    ],
    ("cases", "GET"): [Case(C_ALL, hides=lambda w: w.case_a.code, sees=("treaty", "registry_admin", "insp_in"))],
    ("case-new", "GET"): [Case(POST_ONLY)],
    ("case-new", "POST"): [
        Case(
            expect(FORBIDDEN, treaty=DONE, registry_admin=DONE, anon=LOGIN),
            body={"title": "Opened by the matrix"},
            tables=CASEWORK,
        )
    ],
    ("case", "GET"): [Case(cells(C_TIPS_READ, insp_in=PAGE), params=lambda w, r: {"code": w.case_a.code})],
    ("case-action", "GET"): [Case(POST_ONLY, params=lambda w, r: {"code": w.case_a.code, "action": "state"})],
    ("case-action", "POST"): [
        Case(
            C_CASE_WORK,
            name=action,
            params=lambda w, r, action=action: {"code": w.case_a.code, "action": action},
            body=body,
            tables=CASEWORK,
        )
        for action, body in (
            ("state", {"state": "under_inspection"}),
            ("add-inspectorate", {"organisation": "insp-de"}),
            ("remove-inspectorate", {"organisation": "insp-us"}),
        )
    ],
    # Declared runs: read as the API reads them; the treaty body decides, the operator withdraws.
    ("runs", "GET"): [Case(C_ALL, hides=lambda w: w.run_a.code, sees=A_SEES)],
    ("run-queue", "GET"): [Case(C_ALL, hides=lambda w: w.run_a.code, sees=A_SEES)],
    # Issue 19: export approvals. Everyone has the page; A's pending export shows to both operators, both
    # countries' inspectorates and the treaty body; only the US inspectorate (the exporting one) decides it.
    ("export-approvals", "GET"): [
        Case(
            C_ALL,
            hides=lambda w: w.export_a.reference,
            sees=(*OPERATOR_A, "op_other", "insp_in", "insp_out", "treaty", "registry_admin"),
        )
    ],
    ("export-decision", "GET"): [Case(POST_ONLY, params=lambda w, r: {"pk": str(w.export_a.pk), "action": "approve"})],
    ("export-decision", "POST"): [
        Case(
            expect(FORBIDDEN, insp_in=DONE, manufacturer=HIDDEN, anon=LOGIN),
            name=action,
            params=lambda w, r, action=action: {"pk": str(w.export_a.pk), "action": action},
            body={"reason": "decided by the matrix"},
            tables=("inventory.ExportAuthorisation",),
        )
        for action in ("approve", "refuse")
    ],
    ("run", "GET"): [Case(C_A_VIEW, params=lambda w, r: {"code": w.run_a.code})],
    ("run-decision", "GET"): [Case(POST_ONLY, params=lambda w, r: {"code": w.run_a.code, "action": "approve"})],
    ("run-decision", "POST"): [
        Case(
            expect(HIDDEN, op_a=FORBIDDEN, insp_in=FORBIDDEN, treaty=DONE, registry_admin=DONE, anon=LOGIN),
            name="approve",
            params=lambda w, r: {"code": w.run_a.code, "action": "approve"},
            body={"reason": "approved by the matrix"},
            tables=("runs.Run",),
        ),
        Case(
            expect(
                HIDDEN,
                a_writers=DONE,
                op_readonly=FORBIDDEN,
                insp_in=FORBIDDEN,
                treaty=FORBIDDEN,
                registry_admin=FORBIDDEN,
                anon=LOGIN,
            ),
            name="withdraw",
            params=lambda w, r: {"code": w.run_a.code, "action": "withdraw"},
            body={"reason": "withdrawn by the matrix"},
            tables=("runs.Run",),
        ),
    ],
}


# Writes to records an inspector or treaty body relies on: an accepted one appends a log event
# (issue 15, item 7). Tokens, subscriptions and deliveries are a party's own plumbing, not records.
LOGGED = {
    ("POST", "/api/v1/organisations/"),
    ("PATCH", "/api/v1/organisations/{code}/"),
    ("POST", "/api/v1/users/"),
    ("PATCH", "/api/v1/users/{id}/"),
    ("PATCH", "/api/v1/models/{slug}/"),
    ("POST", "/api/v1/chips/"),
    ("PATCH", "/api/v1/chips/{id}/"),
    ("POST", "/api/v1/chips/{id}/identity/"),
    ("POST", "/api/v1/facilities/"),
    ("PATCH", "/api/v1/facilities/{code}/"),
    ("POST", "/api/v1/clusters/"),
    ("PATCH", "/api/v1/clusters/{id}/"),
    ("POST", "/api/v1/facilities/{code}/accept/"),
    ("POST", "/api/v1/facilities/{code}/refuse/"),
    ("POST", "/api/v1/links/"),
    ("PATCH", "/api/v1/links/{id}/"),
    ("POST", "/api/v1/links/{id}/retire/"),
    ("POST", "/api/v1/workload-groups/"),
    ("PATCH", "/api/v1/workload-groups/{id}/"),
    ("POST", "/api/v1/workload-groups/{id}/retire/"),
    ("POST", "/api/v1/transfers/"),
    ("POST", "/api/v1/transfers/{id}/receive/"),
    ("POST", "/api/v1/export-authorisations/"),
    ("POST", "/api/v1/export-authorisations/{id}/approve/"),
    ("POST", "/api/v1/export-authorisations/{id}/refuse/"),
    ("POST", "/api/v1/export-authorisations/{id}/revoke/"),
    ("POST", "/api/v1/destination-rules/"),
    ("DELETE", "/api/v1/destination-rules/{id}/"),
    ("POST", "/api/v1/declarations/"),
    ("POST", "/api/v1/inspections/"),
    ("POST", "/api/v1/findings/{id}/resolve/"),
    ("POST", "/api/v1/challenge-inspections/"),
    ("POST", "/api/v1/challenge-inspections/{id}/acknowledge/"),
    ("POST", "/api/v1/challenge-inspections/{id}/access/"),
    ("POST", "/api/v1/challenge-inspections/{id}/record/"),
    ("POST", "/api/v1/challenge-rules/"),
    ("POST", "/api/v1/keys/"),
    ("POST", "/api/v1/keys/{keyid}/retire/"),
    ("POST", "/api/v1/keys/{keyid}/revoke/"),
    ("POST", "/api/v1/landmarks/"),
    ("POST", "/api/v1/delegations/"),
    ("POST", "/api/v1/delegations/{id}/revoke/"),
    ("POST", "/api/v1/attestations/"),
    ("POST", "/api/v1/thresholds/"),
    ("PATCH", "/api/v1/thresholds/{id}/"),
    ("DELETE", "/api/v1/thresholds/{id}/"),
    ("POST", "/api/v1/alerts/{id}/acknowledge/"),
    ("POST", "/api/v1/alerts/{id}/resolve/"),
    ("POST", "/api/v1/alerts/{id}/dismiss/"),
    ("POST", "/api/v1/runs/"),
    ("POST", "/api/v1/runs/{code}/approve/"),
    ("POST", "/api/v1/runs/{code}/object/"),
    ("POST", "/api/v1/runs/{code}/withdraw/"),
    ("POST", "/api/v1/log/witnesses/"),
    ("DELETE", "/api/v1/log/witnesses/{id}/"),
    ("POST", "/api/v1/findings/{id}/answers/"),
    ("POST", "/api/v1/alerts/{id}/answers/"),
    ("POST", "/api/v1/findings/{id}/clarifications/"),
    ("POST", "/api/v1/alerts/{id}/clarifications/"),
    ("POST", "/api/v1/answers/{id}/decide/"),
    ("POST", "/api/v1/tips/"),
    ("POST", "/api/v1/tips/additions/"),
    ("POST", "/api/v1/tips/{ref}/triage/"),
    ("POST", "/api/v1/cases/"),
    ("POST", "/api/v1/cases/{code}/links/"),
    ("POST", "/api/v1/cases/{code}/state/"),
    ("POST", "/api/v1/cases/{code}/inspectorates/"),
    ("DELETE", "/api/v1/cases/{code}/inspectorates/{organisation}/"),
    ("POST", "/api/v1/disposals/"),
    ("POST", "/api/v1/disposals/{id}/accept/"),
    ("POST", "/api/v1/disposals/{id}/refuse/"),
    ("POST", "/api/v1/manufacturer-reports/"),
}
