from .catalog import AcceleratorModel, AcceleratorModelRevision
from .chips import Chip, ChipEvent, HardwareIdentity, IdentitySource, RegistrationBatch
from .organisations import Organisation, User
from .tokens import APIToken

__all__ = [
    "APIToken",
    "AcceleratorModel",
    "AcceleratorModelRevision",
    "Chip",
    "ChipEvent",
    "HardwareIdentity",
    "IdentitySource",
    "Organisation",
    "RegistrationBatch",
    "User",
]
