"""The demo's organisations, users (password DEMO_PASSWORD) and chips. Idempotent.

Through registry.records, as create_org and create_user do: each one logged.
"""

from registry import records
from registry.choices import OrgKind, Role
from registry.models import Chip, Organisation, User
from registry.registration import register_chips

DEMO_PASSWORD = "chipreg-demo"  # noqa: S105 - the demo's published password (README)
ORGS = [
    ("treaty-demo", "Demo Treaty Secretariat", OrgKind.TREATY_BODY, "", []),
    ("insp-us", "US Inspectorate (demo)", OrgKind.INSPECTORATE, "US", ["US"]),
    ("insp-de", "DE Inspectorate (demo)", OrgKind.INSPECTORATE, "DE", ["DE"]),
    ("op-demo", "Demo Compute Inc.", OrgKind.OPERATOR, "US", []),
    ("op-other", "Other Cloud GmbH", OrgKind.OPERATOR, "DE", []),
]
MAKER_COUNTRIES = {"nvidia": "US", "amd": "US"}
USERS = [
    ("treaty", "treaty-demo", Role.ADMIN),
    ("inspector", "insp-us", Role.MEMBER),
    ("inspector-de", "insp-de", Role.MEMBER),
    ("operator", "op-demo", Role.ADMIN),
    ("other-operator", "op-other", Role.ADMIN),
    ("nvidia-clerk", "nvidia", Role.MEMBER),
]
CHIPS = [
    ("operator", "nvidia-h100-sxm5-80gb", "1653824019", 48),
    ("operator", "nvidia-h200-sxm-141gb", "1653924010", 16),
    ("other-operator", "amd-instinct-mi300x", "MI300X-DE-", 24),
    ("nvidia-clerk", "nvidia-b200-sxm", "1654024000", 8),
    # Three halls of 400 H100s each (demo.world.FLEETS): serving, unexplained training, a run past its plan.
    ("operator", "nvidia-h100-sxm5-80gb", "1653826010", 400),
    ("operator", "nvidia-h100-sxm5-80gb", "1653826020", 400),
    ("operator", "nvidia-h100-sxm5-80gb", "1653826030", 400),
]


def build():
    """Create what is missing; returns a one-line summary."""
    for code, name, kind, country, jurisdictions in ORGS:
        if not Organisation.objects.filter(code=code).exists():
            records.create_organisation(
                None, code=code, name=name, kind=kind, country=country, jurisdictions=jurisdictions
            )
    # The makers come from the catalog with no country; the chips a maker registers lie in its home country
    # (registry.registration refuses a maker of none), recorded here as a registry administrator would.
    for code, country in MAKER_COUNTRIES.items():
        maker = Organisation.objects.get(code=code)
        if not maker.country:
            records.update_organisation(maker, None, {"country": country})
    for username, org, role in USERS:
        if not User.objects.filter(username=username).exists():
            organisation = Organisation.objects.get(code=org)
            records.create_user(None, organisation, username=username, role=role, password=DEMO_PASSWORD)
    if not User.objects.filter(username="admin").exists():
        records.create_user(
            None,
            Organisation.objects.get(code="treaty-demo"),
            username="admin",
            role=Role.ADMIN,
            password=DEMO_PASSWORD,
            superuser=True,
        )
    for username, model, prefix, count in CHIPS:
        user = User.objects.get(username=username)
        rows = [{"chip": f"{model.split('-')[0]}:{prefix}{i:03d}", "model": model} for i in range(count)]
        register_chips(rows, user)
    # The H200 of tests/fixtures/nvidia (the README's agent walkthrough reads its nvidia-smi XML).
    register_chips(
        [
            {
                "chip": "nvidia:1653924010417",
                "model": "nvidia-h200-sxm-141gb",
                "uuid": "GPU-7a41d2e9-03c8-6b1f-a9d4-52e0c8b3f611",
            }
        ],
        User.objects.get(username="operator"),
    )
    return (
        f"Demo data: {Organisation.objects.count()} organisations, {Chip.objects.count()} chips. "
        f"Users {', '.join(u for u, _, _ in USERS)} and admin, password {DEMO_PASSWORD!r}."
    )
