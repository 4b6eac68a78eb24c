"""Public-money payments (公金決済): orders, gateways, ledger (built in the payments issue)."""
