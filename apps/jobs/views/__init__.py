"""Job views, one module per screen: the wizard, the dashboard and the job window."""
