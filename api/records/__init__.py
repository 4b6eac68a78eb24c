"""The record of every exchange (やりとり履歴) and its tamper-evident log (RFC 9162)."""
