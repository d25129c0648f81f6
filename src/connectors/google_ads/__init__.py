"""Google Ads Customer Match through Google's Data Manager API (v1): a destination connector
(:mod:`.connector`) that pushes segments as hashed, consented Customer Match lists, and the
simulator of the API it is tested against (:mod:`.simulator`). See
``docs/connectors/google-ads.md``."""
