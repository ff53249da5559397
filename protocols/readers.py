"""Built-in corpus readers (each registers itself with @register_protocol when imported)."""
from . import asvspoof, demo, generic  # noqa: F401
