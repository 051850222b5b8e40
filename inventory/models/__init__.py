from .findings import Finding
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
    "Placement",
    "Transfer",
    "TransferItem",
]
