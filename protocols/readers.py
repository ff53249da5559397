"""Built-in corpus readers (each registers itself with @register_protocol)."""
