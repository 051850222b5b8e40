from .catalog import AcceleratorModel, AcceleratorModelRevision
from .chips import Chip, ChipEvent, ChipIdentity, HardwareIdentity, IdentitySource, RegistrationBatch
from .organisations import Organisation, User
from .tokens import APIToken

__all__ = [
    "APIToken",
    "AcceleratorModel",
    "AcceleratorModelRevision",
    "Chip",
    "ChipEvent",
    "ChipIdentity",
    "HardwareIdentity",
    "IdentitySource",
    "Organisation",
    "RegistrationBatch",
    "User",
]
