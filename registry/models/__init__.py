from .catalog import AcceleratorModel, AcceleratorModelRevision
from .chips import Chip, ChipEvent, ChipIdentity, HardwareIdentity, IdentitySource, RegistrationBatch
from .disposals import DisposalAttachment, DisposalChip, DisposalRequest, ManufacturerReport
from .organisations import Organisation, User
from .tokens import APIToken

__all__ = [
    "APIToken",
    "AcceleratorModel",
    "AcceleratorModelRevision",
    "Chip",
    "ChipEvent",
    "ChipIdentity",
    "DisposalAttachment",
    "DisposalChip",
    "DisposalRequest",
    "HardwareIdentity",
    "IdentitySource",
    "ManufacturerReport",
    "Organisation",
    "RegistrationBatch",
    "User",
]
