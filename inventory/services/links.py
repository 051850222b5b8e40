"""Declaring, changing and retiring network links and joint-workload groups between an operator's sites.

Who may say it: the operator of every site named (or the registry's administrator, for that operator), and
nobody else. A link or a group makes its sites one covered chip cluster (compliance.covered), so it decides
whether the operator's chips must sit in accepted facilities: letting operator B declare a link to A's site
would be B speaking for A (it could push A's chips over the line, or, retired at will, pull them under).
Two operators whose sites are networked together would each have to vouch for the other's end; a handshake
of that kind needs each to name a site of the other, and the registry cannot confirm or refuse that name
without telling whether the site exists, so it is not offered: a site of another operator gets the answer
a code that does not exist gets. Sites of several operators in one place are still one cluster: the
registry groups them into a campus from their coordinates (inventory.campuses), whoever runs them.

Each change is a log event the operator and the inspectorates of the sites' countries read, and an outbox
event (`sites.linked`) after which compliance recomputes the covered clusters.
"""

from django.db import IntegrityError, transaction
from django.utils import timezone

from core.errors import Conflict, Forbidden, Invalid
from inventory.models import NetworkLink, WorkloadGroup, WorkloadGroupMember
from outbox import emit
from registry.choices import OrgKind
from transparency.events import append_event

LINK_FIELDS = ("name", "bandwidth_gbps")
GROUP_FIELDS = ("name", "description")


def require_site_operator(user):
    """Operators declare what ties their sites (the registry's administrators too, for an operator)."""
    org = getattr(user, "organisation", None)
    if user.is_superuser or (org is not None and org.kind == OrgKind.OPERATOR):
        return
    raise Forbidden("Only operators declare links and workload groups between their sites.", code="operators_only")


def site_ref(facility, cluster=None):
    return f"{facility.code}/{cluster.code}" if cluster is not None else facility.code


def _one_operator(sites):
    """The operator of every site named: a link or group across operators is refused (see the module)."""
    operators = {facility.operator_id for facility, _ in sites}
    if len(operators) != 1:
        # Reached only by a registry administrator: an operator resolves none but its own facilities.
        raise Invalid("Every site named must be run by one operator.", code="sites_of_several_operators")
    return sites[0][0].operator


def _countries(sites):
    return sorted({facility.country for facility, _ in sites})


def _changed(facilities):
    """Tell compliance the ties between these facilities moved (once this transaction commits)."""
    emit("sites.linked", facilities=sorted({f.pk for f in facilities}))


# --- links -------------------------------------------------------------------------------------------


def link_data(link):
    return {
        "link": link.code,
        "operator": link.operator.code,
        "name": link.name,
        "a": site_ref(link.a_facility, link.a_cluster),
        "b": site_ref(link.b_facility, link.b_cluster),
        "bandwidth_gbps": link.bandwidth_gbps,
    }


def _link_event(event, link, data):
    sites = [(link.a_facility, link.a_cluster), (link.b_facility, link.b_cluster)]
    return append_event(
        event, f"{link.operator.code}/{link.code}", data, parties=[link.operator.code], countries=_countries(sites)
    )


def declare_link(user, values):
    """A new link between two sites (`values`: code, name, a_facility, a_cluster, b_facility, b_cluster,
    bandwidth_gbps; the facilities resolved among those the user may change)."""
    require_site_operator(user)
    a = (values["a_facility"], values.get("a_cluster"))
    b = (values["b_facility"], values.get("b_cluster"))
    if a == b:
        raise Invalid("A link joins two different sites.", code="link_to_itself")
    operator = _one_operator([a, b])
    taken = Conflict(f"You have a link {values['code']} already.", code="link_code_taken")
    with transaction.atomic():
        if NetworkLink.objects.active().filter(operator=operator, code=values["code"]).exists():
            raise taken
        link = _create_once(
            taken,
            NetworkLink,
            code=values["code"],
            name=values.get("name", ""),
            operator=operator,
            a_facility=a[0],
            a_cluster=a[1],
            b_facility=b[0],
            b_cluster=b[1],
            bandwidth_gbps=values["bandwidth_gbps"],
            declared_by=user,
        )
        link.log_index = _link_event("link.declared", link, {**link_data(link), "by": user.username})
        link.save(update_fields=["log_index"])
        _changed([a[0], b[0]])
    return link


def _create_once(taken, model, **fields):
    """Create the row; a concurrent declaration of the same code (the partial unique index) is `taken`."""
    try:
        with transaction.atomic():
            return model.objects.create(**fields)
    except IntegrityError:
        raise taken from None


def _locked(model, obj):
    obj = model.objects.select_for_update(of=("self",)).select_related("operator").get(pk=obj.pk)
    if obj.retired_at is not None:
        raise Conflict(f"{obj.code} was retired on {obj.retired_at.isoformat()}.", code="retired")
    return obj


def update_link(user, link, changes):
    """Change a link's bandwidth or name (a new bandwidth may join or part its sites)."""
    unknown = set(changes) - set(LINK_FIELDS)
    if unknown:
        raise Invalid(f"These fields cannot change: {', '.join(sorted(unknown))}.", code="fixed_field")
    with transaction.atomic():
        link = _locked(NetworkLink, link)
        if "bandwidth_gbps" in changes and changes["bandwidth_gbps"] < link.bandwidth_gbps:
            # A window reads the links in force at any time in it, each at its bandwidth now: lowered in place,
            # the link would part the work it joined before (filed after), as retiring it does not.
            raise Conflict(
                f"A link's bandwidth is lowered by retiring {link.code} and declaring it again at the new bandwidth:"
                " the old declaration keeps joining its sites in the windows it was in force in.",
                code="bandwidth_lowered",
            )
        before = link_data(link)
        for field, value in changes.items():
            setattr(link, field, value)
        after = link_data(link)
        if after == before:
            return link
        link.save(update_fields=list(changes))
        _link_event("link.updated", link, {**after, "before": before, "by": user.username})
        if after["bandwidth_gbps"] != before["bandwidth_gbps"]:
            _changed([link.a_facility, link.b_facility])
    return link


def retire_link(user, link):
    with transaction.atomic():
        link = _locked(NetworkLink, link)
        link.retired_at, link.retired_by = timezone.now(), user
        link.save(update_fields=["retired_at", "retired_by"])
        _link_event("link.retired", link, {**link_data(link), "by": user.username})
        _changed([link.a_facility, link.b_facility])
    return link


# --- joint workloads --------------------------------------------------------------------------------


def group_data(group, members):
    return {
        "group": group.code,
        "operator": group.operator.code,
        "name": group.name,
        "description": group.description,
        "sites": sorted(site_ref(facility, cluster) for facility, cluster in members),
    }


def _members(group):
    return [(m.facility, m.cluster) for m in group.members.select_related("facility", "cluster")]


def _group_event(event, group, members, data):
    return append_event(
        event, f"{group.operator.code}/{group.code}", data, parties=[group.operator.code], countries=_countries(members)
    )


def declare_group(user, values):
    """Sites declared to run workloads together (`values`: code, name, description, members: [(facility,
    cluster or None)], the facilities resolved among those the user may change)."""
    require_site_operator(user)
    members = list(dict.fromkeys(values["members"]))  # the same site twice is one site
    if len(members) < 2:
        raise Invalid("A workload group joins at least two different sites.", code="group_too_small")
    operator = _one_operator(members)
    taken = Conflict(f"You have a workload group {values['code']} already.", code="group_code_taken")
    with transaction.atomic():
        if WorkloadGroup.objects.active().filter(operator=operator, code=values["code"]).exists():
            raise taken
        group = _create_once(
            taken,
            WorkloadGroup,
            code=values["code"],
            name=values.get("name", ""),
            description=values.get("description", ""),
            operator=operator,
            declared_by=user,
        )
        WorkloadGroupMember.objects.bulk_create(
            WorkloadGroupMember(group=group, facility=facility, cluster=cluster) for facility, cluster in members
        )
        group.log_index = _group_event(
            "workload_group.declared", group, members, {**group_data(group, members), "by": user.username}
        )
        group.save(update_fields=["log_index"])
        _changed([facility for facility, _ in members])
    return group


def update_group(user, group, changes):
    """A group's name or description; its sites are fixed (another set of sites is another group)."""
    unknown = set(changes) - set(GROUP_FIELDS)
    if unknown:
        raise Invalid(
            f"These fields cannot change: {', '.join(sorted(unknown))} (retire the group and declare another).",
            code="fixed_field",
        )
    with transaction.atomic():
        group = _locked(WorkloadGroup, group)
        members = _members(group)
        before = group_data(group, members)
        for field, value in changes.items():
            setattr(group, field, value)
        after = group_data(group, members)
        if after == before:
            return group
        group.save(update_fields=list(changes))
        _group_event("workload_group.updated", group, members, {**after, "before": before, "by": user.username})
    return group


def retire_group(user, group):
    with transaction.atomic():
        group = _locked(WorkloadGroup, group)
        members = _members(group)
        group.retired_at, group.retired_by = timezone.now(), user
        group.save(update_fields=["retired_at", "retired_by"])
        _group_event("workload_group.retired", group, members, {**group_data(group, members), "by": user.username})
        _changed([facility for facility, _ in members])
    return group
