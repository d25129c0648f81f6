"""First-party connectors. Each folder is a plugin registered through the ``segsync``
entry-point group, exactly as a third-party plugin is; each imports only segsync's public API."""
