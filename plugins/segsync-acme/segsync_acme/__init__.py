"""segsync-acme: the worked example of docs/plugin-guide.md — an HTTP connector for the
fictional Acme CRM, its simulator, and its conformance tests."""

__version__ = "0.1.0"
