"""Payment gateways behind one interface (``base.Gateway``): the sandbox gateway's HTTP client here."""
