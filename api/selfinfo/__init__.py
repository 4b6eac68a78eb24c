"""自己情報表示: what agencies hold about the person (their copies, 副本), grouped as the portal groups them with
provenance; the export of everything as one JSON document; correction requests (訂正請求) to the providing agency."""
