"""Agencies (ministries, municipalities, insurers) and the agency-specific codes (機関別符号) of people."""
