"""One ninja Router per resource of the API, mounted by apps.api.api."""
