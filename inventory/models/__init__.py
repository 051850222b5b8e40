from .findings import Finding
from .links import NetworkLink, WorkloadGroup, WorkloadGroupMember
from .listings import Declaration, DeclarationItem, Inspection, InspectionItem
from .placements import Placement
from .sites import Campus, Cluster, Facility
from .transfers import Transfer, TransferItem

__all__ = [
    "Campus",
    "Cluster",
    "Declaration",
    "DeclarationItem",
    "Facility",
    "Finding",
    "Inspection",
    "InspectionItem",
    "NetworkLink",
    "Placement",
    "Transfer",
    "TransferItem",
    "WorkloadGroup",
    "WorkloadGroupMember",
]
