"""Google Customer Match through the Google Data Manager API (v1).

For now this package holds only the simulator of the Data Manager API
(:mod:`segsync.connectors.google_ads.simulator`); the destination connector that pushes segment
membership to Customer Match lists comes later and will live beside it.
"""
