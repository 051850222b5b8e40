"""chipreg operator agent: inventory, sampling, signed attestations, receipts, log monitoring.

Imports no Django: only the standard library, protocol/, cryptography, rich and,
when NVML is used, pynvml (nvidia-ml-py). The command line is agent.cli:main;
exit codes are documented there and in agent/README.md.
"""

__version__ = "0.1.0"
