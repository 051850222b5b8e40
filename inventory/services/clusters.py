"""Declaring and changing clusters, each change a log event with what it was before."""

from django.db import transaction

from core.errors import Invalid
from inventory.models import Cluster
from outbox import emit
from transparency.events import append_event


def cluster_data(cluster):
    return {
        "facility": cluster.facility.code,
        "cluster": cluster.code,
        "name": cluster.name,
        "interconnect_gbps": cluster.interconnect_gbps,
        "purpose": cluster.purpose,
        "operator": cluster.facility.operator.code,
        "country": cluster.facility.country,
    }


def register_cluster(user, values):
    """A cluster in a facility the user may change (the API's field resolved it through restrict())."""
    with transaction.atomic():
        cluster = Cluster.objects.create(**values)
        append_event("cluster.registered", f"{cluster.facility.code}/{cluster.code}", cluster_data(cluster))
    return cluster


def update_cluster(user, cluster, changes):
    if "facility" in changes and changes["facility"].pk != cluster.facility_id:
        raise Invalid("A cluster cannot move to another facility.")
    with transaction.atomic():
        cluster = (
            Cluster.objects.select_for_update(of=("self",)).select_related("facility__operator").get(pk=cluster.pk)
        )
        before = cluster_data(cluster)
        for field, value in changes.items():
            setattr(cluster, field, value)
        after = cluster_data(cluster)
        if after == before:
            return cluster
        cluster.save(update_fields=[f for f in changes if f != "facility"])
        append_event(
            "cluster.updated",
            f"{cluster.facility.code}/{cluster.code}",
            {**after, "before": before, "by": user.username},
        )
        if after["interconnect_gbps"] != before["interconnect_gbps"]:
            # Whether its chips are networked above a rule's bandwidth (compliance.covered) may have changed.
            emit("sites.linked", facilities=[cluster.facility_id])
    return cluster
