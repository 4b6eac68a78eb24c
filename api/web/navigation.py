"""The portal's menu: one entry per section. A new section (applications, certificates, consents, the
municipality's inbox) is one line here, its handler in its own module, and its template."""

from __future__ import annotations

from dataclasses import dataclass, field

from markupsafe import Markup, escape

from api.platform.scopes import (
    APPLICATIONS_WRITE,
    CERTIFICATES_REQUEST,
    NOTICES_READ,
    PAYMENTS_READ,
    PROFILE_READ,
    RECORDS_READ,
)


@dataclass(frozen=True)
class Section:
    path: str  # under /web
    label: str  # Japanese, as the real portal names it
    english: str
    scope: str  # what the session must carry to see it
    furigana: dict[str, str] = field(default_factory=dict)  # kanji words of the label and their reading

    @property
    def html(self) -> Markup:
        return with_furigana(self.label, self.furigana)


def with_furigana(text: str, readings: dict[str, str]) -> Markup:
    """``text`` with each listed word in <ruby> (the real portal shows readings above kanji)."""
    marked = escape(text)
    for word, reading in readings.items():
        marked = marked.replace(escape(word), Markup("<ruby>{}<rt>{}</rt></ruby>").format(word, reading))
    return marked


SECTIONS: tuple[Section, ...] = (
    Section("/", "ホーム", "Home", PROFILE_READ),
    Section("/notices", "お知らせ", "Notices", NOTICES_READ),
    Section("/payments", "公金決済", "Payments", PAYMENTS_READ, {"公金決済": "こうきんけっさい"}),
    Section("/history", "やりとり履歴", "Data exchanges", RECORDS_READ, {"履歴": "りれき"}),
    Section("/applications", "申請", "Applications", APPLICATIONS_WRITE, {"申請": "しんせい"}),
    Section("/certificates", "証明書", "Certificates", CERTIFICATES_REQUEST, {"証明書": "しょうめいしょ"}),
    Section("/me", "わたしの情報", "My information", RECORDS_READ, {"情報": "じょうほう"}),
    Section("/consents", "連携サービス", "Connected services", PROFILE_READ, {"連携": "れんけい"}),
    Section("/proxies", "代理人", "Proxies", PROFILE_READ, {"代理人": "だいりにん"}),
)
