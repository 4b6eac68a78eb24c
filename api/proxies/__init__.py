"""Proxies (代理人): a person grants another person scoped rights until a date; parents act for minors."""
