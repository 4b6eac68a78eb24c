"""What an import reports."""

from __future__ import annotations

from corporate.import_report import ImportReport


def test_unchanged_rows_are_the_valid_rows_not_stored_again() -> None:
    report = ImportReport(rows_read=10, inserted=6, rejected=3)
    assert report.unchanged == 1
    assert (report.samples, report.bulk, report.phases) == ([], False, {})
