"""The access record: every read of a person's data by anyone other than that person."""
