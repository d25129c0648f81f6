"""Salesforce (REST API and Bulk API 2.0): Contacts, Leads and won Opportunities in, campaigns
out (:mod:`.connector`), and the platform's simulator (:mod:`.simulator`)."""
