"""The Overview page: one account's link states, sync health and held orders at a glance."""
