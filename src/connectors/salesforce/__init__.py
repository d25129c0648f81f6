"""Salesforce (REST API and Bulk API 2.0): for now only its platform simulator,
:mod:`segsync.connectors.salesforce.simulator`; the connector comes later."""
