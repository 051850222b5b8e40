"""Covered chip clusters: which sites count as one cluster, and their totals.

Two definitions, each a scope of threshold rules (compliance.choices.Scope):

- `covered_cluster`, the draft agreement's (MIRI Technical Governance Team, arXiv 2511.10783): Article II
  defines a covered chip cluster (CCC), which Article V.1 recalls as "a set of chips with capacity greater
  than 16 H100-equivalents" to be located in facilities declared to the ISIA; V.2 lets chips outside them
  stay only if they are "not aggregated or networked to meet the CCC definition". The 25 Gbit/s line for
  "networked" is the figure the preset cited before this module (and issue 17 repeats); Article II's own
  wording of it was not at hand when this was written. Here: the connected components of the facilities,
  joined when they stand in one place (one facility, or one campus of facilities within
  CHIPREG_CAMPUS_DISTANCE_KM, whoever runs them), when a declared network link between them carries more
  than the rule's `link_gbps` (25 by default; parallel links between the same two facilities count by their
  sum), or when they are declared to run workloads together (a
  workload group). Article V.3 forbids
  disaggregating chips to take a set out of the definition: a set split over facilities far apart but
  linked is one set.
- `datacenter_cluster`, US Executive Order 14110 sec. 4.2(b)(ii) (2023, since revoked): "a set of machines
  physically co-located in a single datacenter, transitively connected by data center networking of over
  100 Gbit/s". Here: within one facility, the declared clusters whose own interconnect exceeds the rule's
  `link_gbps` (100 by default; a cluster that declares none is not taken as slow), joined by declared links
  above it; the facility's chips in no cluster are one more set (not declared slow either). A slower
  cluster counts in none: its machines are not networked above the line.

A subject is one component for one bandwidth: its key is `<gbps>/<node>`, the node the component's smallest
facility id (`covered_cluster`) or its smallest site (`datacenter_cluster`: `c<cluster id>`, or
`f<facility id>` for the facility's chips in no cluster). The components are recomputed from the declared
ties on every evaluation (a few small queries: campuses, active links, groups), and the totals are sums of
one GROUP BY per site, so they are exact sums of the same rows the other scopes count.

What a component shows, and to whom: its label names its facilities; its operator and country are set only
when every facility shares them (as a campus's), so a component of several operators is the treaty body's
and its inspectorates' to see, not one operator's, and one spanning two countries the treaty body's.
"""

from collections import defaultdict
from typing import NamedTuple

from django.db.models import Q

from compliance import storage
from compliance.choices import COMPONENT_SCOPES, Scope

DEFAULT_GBPS = {Scope.COVERED_CLUSTER: 25.0, Scope.DATACENTER_CLUSTER: 100.0}
PRECISIONS = tuple(storage.PRECISION_FIELDS)
LABEL_SITES = 4  # sites named in a label; the rest counted


def is_component_scope(scope):
    return scope in COMPONENT_SCOPES


def rule_gbps(rule):
    return rule.link_gbps if rule.link_gbps is not None else DEFAULT_GBPS[rule.scope]


def make_key(gbps, node):
    return f"{gbps:g}/{node}"


def parse_key(key):
    gbps, _, node = str(key).partition("/")
    return float(gbps), node


def applies(rule, scope, key):
    """Whether a rule measures this subject: in component scopes, the components of its own bandwidth."""
    if not is_component_scope(scope):
        return True
    return parse_key(key)[0] == rule_gbps(rule)


def bandwidths(scope, rules=None):
    """The bandwidths whose components are kept for a scope: the default (so they show without a rule) and
    every rule's in force of the scope."""
    from django.utils import timezone

    from compliance.models import ThresholdRule

    if rules is None:
        rules = ThresholdRule.objects.in_force(timezone.now()).filter(scope=scope)
    return sorted({DEFAULT_GBPS[scope]} | {rule_gbps(r) for r in rules if r.scope == scope})


# --- the ties ---------------------------------------------------------------------------------------------


class Tie(NamedTuple):
    """A declared link or group, as the components need it: what it joins and where it is in the log."""

    kind: str  # "link" or "workload_group"
    code: str
    log_index: int | None
    sites: tuple  # ((facility id, cluster id or None), ...)
    gbps: float | None  # links only


def _ties(since=None):
    """The declared links and workload groups in force now, or (`since`) at any time after it: a usage window
    joins the sites that were tied while its work ran, even if the tie was retired before the statements came."""
    from inventory.models import NetworkLink, WorkloadGroupMember

    in_force, group_in_force = Q(retired_at__isnull=True), Q(group__retired_at__isnull=True)
    if since is not None:
        in_force |= Q(retired_at__gt=since)
        group_in_force |= Q(group__retired_at__gt=since)
    ties = [
        Tie("link", code, index, ((af, ac), (bf, bc)), gbps)
        for code, index, af, ac, bf, bc, gbps in NetworkLink.objects.filter(in_force).values_list(
            "code", "log_index", "a_facility_id", "a_cluster_id", "b_facility_id", "b_cluster_id", "bandwidth_gbps"
        )
    ]
    groups = defaultdict(list)
    meta = {}
    for group, code, index, facility, cluster in WorkloadGroupMember.objects.filter(group_in_force).values_list(
        "group_id", "group__code", "group__log_index", "facility_id", "cluster_id"
    ):
        groups[group].append((facility, cluster))
        meta[group] = (code, index)
    ties += [Tie("workload_group", *meta[g], tuple(sites), None) for g, sites in sorted(groups.items())]
    return ties


def _fast_enough(ties, gbps, ends):
    """Whether a link joins its ends at this bandwidth: the links between the same two ends (`ends(tie)`)
    count together, so that a connection declared as several parallel links under the line, carrying more than
    it in all, joins them as one link of their sum would (Article V.3: no disaggregating to evade)."""
    totals = defaultdict(float)
    for tie in ties:
        if tie.kind == "link":
            totals[ends(tie)] += tie.gbps
    return lambda tie: totals[ends(tie)] > gbps


class _UnionFind:
    def __init__(self):
        self.parent = {}

    def find(self, x):
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a, b):
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


class Partition:
    """The components of one scope at one bandwidth. Nodes: facility ids (`covered_cluster`), or
    ("c", cluster id) / ("f", facility id) sites (`datacenter_cluster`). A node no tie names is alone."""

    def __init__(self, scope, gbps, ties, campuses=(), clusters=None):
        self.scope, self.gbps = scope, gbps
        self.uf = _UnionFind()
        self.excluded = set()  # datacenter_cluster: clusters declared no faster than the line
        self.joined = []  # (a node, tie) of the ties that joined something: the components' evidence
        self._groups = self._ties_by_key = None  # computed once asked for (the ties are fixed by then)
        if scope == Scope.COVERED_CLUSTER:
            self._covered(ties, campuses)
        else:
            self._datacenter(ties, clusters or {})

    def _covered(self, ties, campuses):
        for members in campuses:  # one place, whoever runs its facilities
            for pk in members[1:]:
                self.uf.union(members[0], pk)
        fast = _fast_enough(ties, self.gbps, lambda tie: frozenset(f for f, _ in tie.sites))
        for tie in ties:
            if tie.kind == "link" and not fast(tie):
                continue
            facilities = [f for f, _ in tie.sites]
            for f in facilities[1:]:
                self.uf.union(facilities[0], f)
            self.joined.append((facilities[0], tie))

    def _datacenter(self, ties, clusters):
        """`clusters`: {cluster id: (facility id, interconnect Gbit/s or None)} of the facilities in question."""
        for pk, (_, interconnect) in clusters.items():
            if interconnect is not None and not interconnect > self.gbps:
                self.excluded.add(("c", pk))
        fast = _fast_enough(ties, self.gbps, lambda tie: frozenset(tie.sites))
        for tie in ties:
            if tie.kind != "link" or not fast(tie):
                continue
            (af, ac), (bf, bc) = tie.sites
            if af != bf:
                continue  # EO 14110: within a single datacenter
            a, b = self.site(af, ac), self.site(bf, bc)
            if a is None or b is None or a == b:
                continue
            self.uf.union(a, b)
            self.joined.append((a, tie))

    def site(self, facility, cluster):
        """The node of a chip placed there (None: counted in no component of this scope)."""
        if self.scope == Scope.COVERED_CLUSTER:
            return facility
        node = ("c", cluster) if cluster is not None else ("f", facility)
        return None if node in self.excluded else node

    def key_of(self, node):
        root = self.uf.find(node)
        if self.scope == Scope.COVERED_CLUSTER:
            return make_key(self.gbps, root)
        kind, pk = root
        return make_key(self.gbps, f"{kind}{pk}")

    def nodes_of(self, key):
        """Every node of the component `key` names (a node no tie names is a component of its own)."""
        if self._groups is None:
            self._groups = defaultdict(set)
            for node in list(self.uf.parent):
                self._groups[self.key_of(node)].add(node)
        return self._groups.get(key) or {_node_of_key(self.scope, key)}

    def ties_of(self, key):
        if self._ties_by_key is None:
            self._ties_by_key = defaultdict(list)
            for node, tie in self.joined:
                self._ties_by_key[self.key_of(node)].append(tie)
        return self._ties_by_key.get(key, [])


def _node_of_key(scope, key):
    _, node = parse_key(key)
    if scope == Scope.COVERED_CLUSTER:
        return int(node)
    return (node[0], int(node[1:]))


def _clusters(facility_ids=None):
    from inventory.models import Cluster

    rows = Cluster.objects.all()
    if facility_ids is not None:
        rows = rows.filter(facility_id__in=list(facility_ids))
    return {pk: (f, gbps) for pk, f, gbps in rows.values_list("pk", "facility_id", "interconnect_gbps")}


def _campuses(since=None):
    """The facilities of each campus now, or (`since`) of each campus at any time after it: a usage window joins
    the facilities that stood in one place while its work ran, even if one has moved away before the statements
    came (as _ties joins the sites a link retired since tied)."""
    from inventory.models import CampusMembership, Facility

    rows = Facility.objects.filter(campus__isnull=False).values_list("pk", "campus_id")
    if since is not None:  # one round trip for both
        was = CampusMembership.objects.filter(Q(valid_to__isnull=True) | Q(valid_to__gt=since))
        rows = rows.union(was.values_list("facility_id", "campus_id"))
    by_campus = defaultdict(set)
    for pk, campus in rows:
        by_campus[campus].add(pk)
    return [sorted(members) for _, members in sorted(by_campus.items())]


def partitions(scope, gbps_list, facility_ids=None, ties=None, since=None):
    """{gbps: Partition} for these bandwidths (the ties read once). `facility_ids`: the facilities a
    `datacenter_cluster` partition reads clusters of (its components never leave a facility; None: all).
    `since`: the campuses as they stood at any time after it too (_campuses), as `ties` were read."""
    ties = _ties() if ties is None else ties
    if scope == Scope.COVERED_CLUSTER:
        campuses = _campuses(since)
        return {gbps: Partition(scope, gbps, ties, campuses=campuses) for gbps in gbps_list}
    clusters = _clusters(facility_ids)
    return {gbps: Partition(scope, gbps, ties, clusters=clusters) for gbps in gbps_list}


def keys_for_facilities(scope, facility_ids, gbps_list=None, ties=None, since=None):
    """The component keys of these facilities' sites (all their clusters and their chips in no cluster);
    `since`: with the campuses of any time after it (the ties read for that time too)."""
    facility_ids = sorted({int(f) for f in facility_ids})
    if not facility_ids:
        return set()
    gbps_list = bandwidths(scope) if gbps_list is None else gbps_list
    ties = _ties() if ties is None else ties
    if scope == Scope.COVERED_CLUSTER:
        found = partitions(scope, gbps_list, None, ties, since)
        return {p.key_of(f) for p in found.values() for f in facility_ids}
    clusters = _clusters(facility_ids)
    out = set()
    for gbps in gbps_list:
        partition = Partition(scope, gbps, ties, clusters=clusters)
        nodes = [("f", f) for f in facility_ids] + [("c", c) for c in clusters if ("c", c) not in partition.excluded]
        out |= {partition.key_of(n) for n in nodes}
    return out


def usage_keys_around(facility_ids, since):
    """The `covered_cluster` keys of these facilities as the ties in force and the campuses at any time after
    `since` join them: the subjects a usage window opening then counts their work for (by_component)."""
    return keys_for_facilities(Scope.COVERED_CLUSTER, facility_ids, ties=_ties(since), since=since)


def keys_around(facility_ids, rules=None):
    """{scope: component keys} of these facilities in both component scopes, at every bandwidth kept (the
    ties read once; `rules`: the rules in force of those scopes, when read already)."""
    ties = _ties()
    return {
        scope: keys_for_facilities(scope, facility_ids, bandwidths(scope, rules), ties) for scope in COMPONENT_SCOPES
    }


def _facilities_of(scope, found, keys):
    """The facilities the components of `keys` span (`found`: their partitions by bandwidth; a
    `datacenter_cluster` component lies in the facility of its key's own node, and needs none)."""
    if scope == Scope.COVERED_CLUSTER:
        return {node for key in keys for node in found[parse_key(key)[0]].nodes_of(key)}
    from inventory.models import Cluster

    facilities, clusters = set(), []
    for key in keys:
        kind, pk = _node_of_key(scope, key)
        (facilities.add(pk) if kind == "f" else clusters.append(pk))
    return facilities | set(Cluster.objects.filter(pk__in=clusters).values_list("facility_id", flat=True))


def _read(scope, keys, since=None):
    """(partitions by bandwidth, the facilities they concern or None for all) for these keys (None: all); with
    `since`, of the ties in force at any time after it (_ties)."""
    ties = _ties(since)
    if keys is None:
        return partitions(scope, bandwidths(scope), None, ties, since), None
    gbps_list = sorted({parse_key(k)[0] for k in keys})
    if scope == Scope.COVERED_CLUSTER:
        found = partitions(scope, gbps_list, None, ties, since)
        return found, _facilities_of(scope, found, keys)
    facility_ids = _facilities_of(scope, None, keys)
    return partitions(scope, gbps_list, facility_ids, ties), facility_ids


# --- totals -----------------------------------------------------------------------------------------------


def compute(scope, subject_keys=None, memo=None):
    """{subject key: totals dict, as aggregates.compute gives} of the components holding chips (of these
    subjects when given: a key of a component that is gone gets nothing, and so zeros stored)."""
    if subject_keys is not None:
        subject_keys = {str(k) for k in subject_keys}
        if not subject_keys:
            return {}
    found, facility_ids = _read(scope, subject_keys)
    rows = _site_rows(facility_ids, {} if memo is None else memo)
    out = {}
    for facility, cluster, count, tpp, h100e, memory, *ops in rows:
        for partition in found.values():
            node = partition.site(facility, cluster)
            if node is None:
                continue
            key = partition.key_of(node)
            if subject_keys is None or key in subject_keys:
                _add(out.setdefault(key, _empty()), count, tpp, h100e, memory, ops)
    return out


def by_component(scope, subject_keys, rows, since=None):
    """Facility rows grouped by the `covered_cluster` components of several facilities they lie in: `rows`
    (facility id, ...) of the facilities `facility_ids(subject_keys)` names; {key: [rows]} of those components
    (these keys when given). Usage windows' records are at a facility (compliance.aggregates), and a component
    of one facility is that facility, which `facility`-scope rules judge already: only sets that join several
    are counted here, so a lone facility's work is not alerted twice over. `since`: the window's opening, whose
    sites are joined by the ties in force at any time in it (_ties)."""
    found, _ = _read(scope, subject_keys, since)
    keys = None if subject_keys is None else {str(k) for k in subject_keys}
    out = defaultdict(list)
    for row in rows:
        for partition in found.values():
            key = partition.key_of(int(row[0]))
            if (keys is None or key in keys) and len(partition.nodes_of(key)) > 1:
                out[key].append(row)
    return out


def facility_ids(scope, subject_keys, since=None):
    """The facilities the `covered_cluster` components of these keys span (None: every one); with `since`, as
    the ties in force at any time after it join them (_ties)."""
    if subject_keys is None:
        return None
    return _read(scope, {str(k) for k in subject_keys}, since)[1]


def _site_rows(facility_ids, memo):
    """storage.site_totals of these facilities (all: None), in a fixed order, so that the float sums come out
    the same on every evaluation (nothing rewritten); read once per `memo` for the same facilities."""
    wanted = None if facility_ids is None else frozenset(facility_ids)
    cached = memo.get("site_totals")
    if cached is not None and (cached[0] is None or (wanted is not None and wanted <= cached[0])):
        return [r for r in cached[1] if wanted is None or r[0] in wanted]
    rows = sorted(storage.site_totals(facility_ids), key=lambda r: (r[0], r[1] is not None, r[1] or 0))
    memo["site_totals"] = (wanted, rows)
    return rows


def _empty():
    return {
        "chip_count": 0,
        "tpp": 0.0,
        "h100e": 0.0,
        "memory_gb": 0.0,
        "ops": dict.fromkeys((*PRECISIONS, "fastest"), 0.0),
    }


def _add(totals, count, tpp, h100e, memory, ops):
    totals["chip_count"] += count
    totals["tpp"] += float(tpp or 0)
    totals["h100e"] += float(h100e or 0)
    totals["memory_gb"] += float(memory or 0)
    for precision, value in zip((*PRECISIONS, "fastest"), ops, strict=True):
        totals["ops"][precision] += float(value or 0)


# --- what a component is: label, who sees it, its chips, its ties -------------------------------------------


class Members(NamedTuple):
    facilities: list  # facility ids
    clusters: list | None  # datacenter_cluster: its cluster ids; None: every chip of the facilities
    unclustered: bool  # datacenter_cluster: the facility's chips in no cluster belong to it
    ties: list  # the declared links and groups that joined it


def members(scope, keys, since=None):
    """{key: Members} of these components as the ties stand now, or (`since`) as those in force at any time after
    it join them (a few queries, however many keys)."""
    keys = {str(k) for k in keys}
    if not keys:
        return {}
    found, facility_ids = _read(scope, keys, since)
    clusters = _clusters(facility_ids) if scope == Scope.DATACENTER_CLUSTER else {}
    out = {}
    for key in keys:
        partition = found[parse_key(key)[0]]
        nodes = partition.nodes_of(key) - partition.excluded
        if scope == Scope.COVERED_CLUSTER:
            out[key] = Members(sorted(nodes), None, True, partition.ties_of(key))
            continue
        inside_clusters = sorted(n[1] for n in nodes if n[0] == "c")
        facilities = {n[1] for n in nodes if n[0] == "f"} | {clusters[c][0] for c in inside_clusters if c in clusters}
        out[key] = Members(sorted(facilities), inside_clusters, any(n[0] == "f" for n in nodes), partition.ties_of(key))
    return out


def labels(scope, keys, since=None):
    """{key: (label, country, operator id)}: the facility codes, and the operator and country shared by
    every facility (else "" and None: see the module); `since`, of the components as the ties and campuses of
    any time after it join them (a usage window's, whose work they count)."""
    from inventory.models import Cluster, Facility

    found = members(scope, keys, since)
    facility_ids = {f for m in found.values() for f in m.facilities}
    facilities = {
        pk: (code, cc, op)
        for pk, code, cc, op in Facility.objects.filter(pk__in=facility_ids).values_list(
            "pk", "code", "country", "operator_id"
        )
    }
    cluster_ids = {c for m in found.values() for c in (m.clusters or [])}
    cluster_codes = dict(Cluster.objects.filter(pk__in=cluster_ids).values_list("pk", "code"))
    out = {}
    for key, m in found.items():
        known = [facilities[f] for f in m.facilities if f in facilities]
        if not known:
            out[key] = (key, "", None)
            continue
        countries = {cc for _, cc, _ in known}
        operators = {op for _, _, op in known}
        if scope == Scope.COVERED_CLUSTER:
            label = _listed(sorted(code for code, _, _ in known))
        else:
            sites = sorted(cluster_codes.get(c, str(c)) for c in m.clusters or [])
            if m.unclustered:
                sites.append("chips in no cluster")
            label = f"{known[0][0]}: " + _listed(sites)
        out[key] = (
            label[:200],
            countries.pop() if len(countries) == 1 else "",
            operators.pop() if len(operators) == 1 else None,
        )
    return out


def _listed(names):
    shown = " + ".join(names[:LABEL_SITES])
    return shown if len(names) <= LABEL_SITES else f"{shown} + {len(names) - LABEL_SITES} more"


def chips_in_many(scope, keys):
    """{key: rows as aggregates.chips_in gives them} of the components' chips, in one query."""
    found = members(scope, keys)
    facility_ids = {f for m in found.values() for f in m.facilities}
    if not facility_ids:
        return {}
    owner = {}  # site -> key
    for key, m in found.items():
        for f in m.facilities:
            if m.clusters is None:
                owner[(f, "*")] = key
            elif m.unclustered:
                owner[(f, None)] = owner.get((f, None), key)
        for c in m.clusters or []:
            owner[("c", c)] = key
    out = {}
    for public_id, source, source_id, log_index, facility, cluster in storage.site_chips(facility_ids):
        key = owner.get((facility, "*")) or owner.get(("c", cluster) if cluster is not None else (facility, None))
        if key is not None:
            out.setdefault(key, []).append((public_id, source, source_id, log_index, key))
    return out


def facilities(scope, keys, since=None):
    """{key: the facility id of a component that lies in one facility, else None} (an alert names it);
    `since` as for labels."""
    return {key: m.facilities[0] if len(m.facilities) == 1 else None for key, m in members(scope, keys, since).items()}


def sources_many(scope, keys, since=None):
    """{key: the declared links and groups that joined the component (`since`: in force at any time after it, as
    a usage window joins it), as evidence sources with their log entries} (one read of the ties for all)."""
    return {
        key: sorted(
            ({"source": tie.kind, "id": tie.code, "log_index": tie.log_index} for tie in m.ties),
            key=lambda s: (s["source"], s["id"]),
        )
        for key, m in members(scope, keys, since).items()
    }
