"""The portal's menu: one entry per section. A new section (applications, certificates, consents, the
municipality's inbox) is one line here, its handler in its own module, and its template."""

from __future__ import annotations

from dataclasses import dataclass

from api.platform.scopes import NOTICES_READ, PAYMENTS_READ, PROFILE_READ, RECORDS_READ


@dataclass(frozen=True)
class Section:
    path: str  # under /web
    label: str  # Japanese, as the real portal names it
    reading: str  # furigana of the label's kanji ("" when it has none)
    english: str
    scope: str  # what the session must carry to see it


SECTIONS: tuple[Section, ...] = (
    Section("/", "ホーム", "", "Home", PROFILE_READ),
    Section("/notices", "お知らせ", "", "Notices", NOTICES_READ),
    Section("/payments", "公金決済", "こうきんけっさい", "Payments", PAYMENTS_READ),
    Section("/history", "やりとり履歴", "やりとりりれき", "Data exchanges", RECORDS_READ),
    Section("/me", "わたしの情報", "わたしのじょうほう", "My information", RECORDS_READ),
    Section("/proxies", "代理人", "だいりにん", "Proxies", PROFILE_READ),
)
