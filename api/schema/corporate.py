"""GraphQL for corporate-number data: lookup with history, ranked name search, application ids.

Corporate data is public (no sign-in); issuing an application id needs a signed-in person.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import Enum

import strawberry
from strawberry import relay

from api.platform.errors import ErrorCode, PortalError
from api.platform.pagination import encode_cursor
from api.schema.connections import page_request
from api.schema.context import Info
from corporate import application_ids, name_search, records, service
from corporate.checkdigit import InvalidCorporateNumber, clean_input, validate


def _date(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


@strawberry.type(name="CorporationState", description="One published state of a corporation (NTA record).")
class CorporationStateType:
    process: str = strawberry.field(description="処理区分: 01 new, 11 name change, 12 address change, ... 99 deleted.")
    process_name: str
    correct: bool = strawberry.field(description="A correction (also how enrichment such as furigana shows up).")
    update_date: date
    change_date: date | None
    name: str | None
    furigana: str | None
    en_name: str | None
    kind: str | None = strawberry.field(description="法人種別, 3 digits (301 株式会社, 101 national organ ...).")
    kind_name: str | None
    prefecture_name: str | None
    city_name: str | None
    street_number: str | None
    prefecture_code: str | None
    city_code: str | None
    post_code: str | None
    address_outside: str | None
    en_prefecture_name: str | None
    en_city_name: str | None
    en_address_outside: str | None
    close_date: date | None
    close_cause: str | None
    successor_corporate_number: str | None
    change_cause: str | None
    assignment_date: date | None
    latest: bool

    @classmethod
    def from_state(cls, state: service.CorporateState) -> CorporationStateType:
        return cls(
            process=state["process"] or "", process_name=records.PROCESS_CODES.get(state["process"] or "", ""),
            correct=state["correct"] == "1", update_date=date.fromisoformat(state["updateDate"] or ""),
            change_date=_date(state["changeDate"]), name=state["name"], furigana=state["furigana"],
            en_name=state["enName"], kind=state["kind"], kind_name=records.KIND_CODES.get(state["kind"] or ""),
            prefecture_name=state["prefectureName"], city_name=state["cityName"],
            street_number=state["streetNumber"], prefecture_code=state["prefectureCode"],
            city_code=state["cityCode"], post_code=state["postCode"], address_outside=state["addressOutside"],
            en_prefecture_name=state["enPrefectureName"], en_city_name=state["enCityName"],
            en_address_outside=state["enAddressOutside"], close_date=_date(state["closeDate"]),
            close_cause=state["closeCause"], successor_corporate_number=state["successorCorporateNumber"],
            change_cause=state["changeCause"], assignment_date=_date(state["assignmentDate"]), latest=state.latest,
        )


@strawberry.type(name="Corporation", description="A corporation by its corporate number (法人番号), "
                                                  "with its latest state and its history.")
class CorporationType:
    corporate_number: str
    latest: CorporationStateType

    @strawberry.field(description="Every published state, oldest first.")
    async def history(self, info: Info) -> list[CorporationStateType]:
        states = await info.context.loaders.corporate_history.load(self.corporate_number)
        return [CorporationStateType.from_state(state) for state in states]

    @classmethod
    def from_state(cls, state: service.CorporateState) -> CorporationType:
        return cls(corporate_number=state.corporate_number, latest=CorporationStateType.from_state(state))


@strawberry.enum(name="CorporationMatch")
class CorporationMatch(Enum):
    PREFIX = "prefix"
    PARTIAL = "partial"


@strawberry.enum(name="CorporationSearchTarget")
class CorporationSearchTarget(Enum):
    ANY = "any"
    NAME = "name"
    FURIGANA = "furigana"
    ENGLISH = "english"


@strawberry.input(name="CorporationFilter")
class CorporationFilter:
    prefecture_code: str | None = None
    city_code: str | None = None
    kinds: list[str] | None = strawberry.field(default=None, description="3-digit kinds, e.g. [\"301\", \"305\"].")
    include_closed: bool = True
    include_past_names: bool = strawberry.field(default=False, description="Match past names too.")
    changed_since: date | None = strawberry.field(default=None, description="Updated on or after this date.")
    assigned_from: date | None = None
    assigned_to: date | None = None


def _checked_filter(filters: CorporationFilter | None) -> CorporationFilter:
    filters = filters or CorporationFilter()
    if filters.prefecture_code is not None and not (len(filters.prefecture_code) == 2
                                                    and filters.prefecture_code.isdigit()):
        raise PortalError(ErrorCode.BAD_USER_INPUT, "prefectureCode is 2 digits.")
    if filters.city_code is not None and not (len(filters.city_code) == 3 and filters.city_code.isdigit()):
        raise PortalError(ErrorCode.BAD_USER_INPUT, "cityCode is 3 digits (the city part of JIS X 0402).")
    if filters.kinds and (len(filters.kinds) > 10 or any(kind not in records.KIND_CODES for kind in filters.kinds)):
        raise PortalError(ErrorCode.BAD_USER_INPUT, "kinds are 3-digit kind codes such as 301.")
    return filters


def _sort_key(after: tuple[str, ...] | None) -> name_search.SortKey | None:
    if after is None:
        return None
    if len(after) != 3 or not after[0].isdigit() or not after[1].isdigit():
        raise PortalError(ErrorCode.BAD_USER_INPUT, "the cursor is not valid")
    return int(after[0]), int(after[1]), after[2]


@strawberry.type(name="CorporateApplicationId")
class CorporateApplicationIdType:
    hint: str = strawberry.field(description="The first four characters, to tell ids apart.")
    label: str
    created_at: datetime
    revoked: bool


@strawberry.type(name="CorporateApplicationIdIssued")
class CorporateApplicationIdIssued:
    application_id: str = strawberry.field(description="The id itself: shown only now, keep it secret.")
    label: str
    created_at: datetime


@strawberry.type
class CorporateQuery:
    @strawberry.field(description="A corporation by its 13-digit number (full-width digits, hyphens and an "
                                  "invoice T prefix are accepted); null when no such number is published.")
    async def corporation(self, info: Info, number: str) -> CorporationType | None:
        try:
            checked = validate(clean_input(number))
        except InvalidCorporateNumber as error:
            raise PortalError(ErrorCode.BAD_USER_INPUT, f"Not a corporate number: {error}.") from error
        async with info.context.read_session_factory() as session:
            [state] = await service.lookup(session, [checked]) or [None]
        return CorporationType.from_state(state) if state else None

    @strawberry.field(description="Name search over names, furigana and English names, normalised (width, case, "
                                  "kana, long-vowel marks, legal forms); exact matches first, then prefix, then "
                                  "partial; shorter names first.")
    async def corporations(
        self, info: Info, query: str, match: CorporationMatch = CorporationMatch.PREFIX,
        target: CorporationSearchTarget = CorporationSearchTarget.ANY, filter: CorporationFilter | None = None,
        first: int | None = 20, after: str | None = None,
    ) -> relay.Connection[CorporationType]:
        if len(query) > 200:
            raise PortalError(ErrorCode.BAD_USER_INPUT, "query is at most 200 characters.")
        request = page_request(first, after)
        filters = _checked_filter(filter)
        search = name_search.NameSearch(
            text=query, mode=match.value, target=target.value, prefecture_code=filters.prefecture_code,
            city_code=filters.city_code, kinds=tuple(filters.kinds or ()), include_closed=filters.include_closed,
            include_past_names=filters.include_past_names, assigned_from=filters.assigned_from,
            assigned_to=filters.assigned_to, changed_since=filters.changed_since)
        try:
            async with info.context.read_session_factory() as session:
                _, found = await service.search_names(session, search, limit=request.first + 1,
                                                      after=_sort_key(request.after), with_count=False)
        except name_search.InvalidSearch as error:
            raise PortalError(ErrorCode.BAD_USER_INPUT, "The query has nothing to search once legal forms and "
                                                        "symbols are removed.") from error
        edges = [relay.Edge(cursor=encode_cursor(str(key[0]), str(key[1]), key[2]),
                            node=CorporationType.from_state(state)) for key, state in found[: request.first]]
        return relay.Connection(edges=edges, page_info=relay.PageInfo(
            has_next_page=len(found) > request.first, has_previous_page=request.after is not None,
            start_cursor=edges[0].cursor if edges else None, end_cursor=edges[-1].cursor if edges else None))

    @strawberry.field(description="The signed-in person's application ids of the corporate-number API.")
    async def corporate_application_ids(self, info: Info) -> list[CorporateApplicationIdType]:
        principal = info.context.require_person("profile:read")
        async with info.context.read_session_factory() as session:
            rows = await application_ids.ids_of_person(session, principal.person_id)
        return [CorporateApplicationIdType(hint=row.hint, label=row.label, created_at=row.created_at,
                                           revoked=row.revoked_at is not None) for row in rows]


@strawberry.type
class CorporateMutation:
    @strawberry.mutation(description="Issue an application id of the corporate-number API at once. The id is "
                                     "returned only in this answer.")
    async def corporate_application_id_create(self, info: Info, label: str) -> CorporateApplicationIdIssued:
        principal = info.context.require_person("profile:read")
        try:
            async with info.context.session_factory() as session, session.begin():
                issued = await application_ids.issue(session, label, person_id=principal.person_id)
        except application_ids.InvalidLabel as error:
            raise PortalError(ErrorCode.BAD_USER_INPUT, "label must be 1 to 200 characters.") from error
        return CorporateApplicationIdIssued(application_id=issued.application_id, label=issued.label,
                                            created_at=issued.created_at)
