"""The JSON an agency sees: an exchange answer, a registration result, the legal table (REST and the CLI)."""

from __future__ import annotations

from typing import Any

from api.exchange.copies import RegistrationResult
from api.exchange.hub import ExchangeAnswer
from api.exchange.legal_table import LegalRow, LegalTable, legal_table
from api.exchange.record import leaf_fields


def row_json(row: LegalRow, table: LegalTable | None = None) -> dict[str, Any]:
    # Each row names its own law and that file's version (別表第二's, or another law's such as the 公金受取口座's).
    return {"id": row.id, "row": row.row, "instrument": row.instrument, "asOf": row.as_of,
            "tableVersion": row.version, "duty": row.duty, "requester": row.requester, "provider": row.provider,
            "items": sorted(row.items), "text": row.text}


def answer_json(answer: ExchangeAnswer) -> dict[str, Any]:
    record = leaf_fields(answer.record)
    names = legal_table().items
    return {
        "queryId": record["queryId"], "duty": record["duty"], "provider": answer.provider_slug,
        "requestedAt": record["requestedAt"], "providedAt": record["providedAt"],
        "processingType": record["processingType"], "legalRow": row_json(answer.row),
        "items": [{"kind": item.kind, "name": names[item.kind], "key": item.key, "value": item.value}
                  for item in answer.items],
        "notHeld": answer.not_held,
    }


def registration_json(result: RegistrationResult) -> dict[str, Any]:
    return {"batchId": str(result.batch_id), "created": result.created, "updated": result.updated,
            "unchanged": result.unchanged, "replayed": result.replayed}


def table_json() -> dict[str, Any]:
    table = legal_table()
    return {
        "version": table.version, "instrument": table.instrument, "asOf": table.as_of,
        "source": table.source,
        "items": [{"kind": kind, "name": name} for kind, name in table.items.items()],
        "duties": [{"code": d.code, "text": d.text, "service": d.service, "rows": list(d.rows)}
                   for d in table.duties.values()],
        "rows": [row_json(row, table) for row in table.rows],
    }
