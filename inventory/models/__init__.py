from .challenges import ChallengeInspection, ChallengeRule, ChallengeSighting, SealRecord
from .exports import ExportAuthorisation
from .findings import AnyFinding, ChiplessFinding, Finding
from .links import NetworkLink, WorkloadGroup, WorkloadGroupMember
from .listings import (
    ChiplessDeclarationItem,
    ChiplessInspectionItem,
    Declaration,
    DeclarationItem,
    Inspection,
    InspectionItem,
)
from .placements import Placement
from .sites import Campus, CampusMembership, Cluster, Facility
from .transfers import Transfer, TransferItem

__all__ = [
    "AnyFinding",
    "Campus",
    "CampusMembership",
    "ChallengeInspection",
    "ChallengeRule",
    "ChallengeSighting",
    "ChiplessDeclarationItem",
    "ChiplessFinding",
    "ChiplessInspectionItem",
    "Cluster",
    "Declaration",
    "DeclarationItem",
    "ExportAuthorisation",
    "Facility",
    "Finding",
    "Inspection",
    "InspectionItem",
    "NetworkLink",
    "Placement",
    "SealRecord",
    "Transfer",
    "TransferItem",
    "WorkloadGroup",
    "WorkloadGroupMember",
]
