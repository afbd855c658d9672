"""Catalog views, one module per screen: the Model and Dataset Hubs, and the pages of one
model or dataset (add, details, delete)."""
