"""A faithful virtual My Number card: card logic, persistent store, test CA, vpcd and NFC-B servers."""
