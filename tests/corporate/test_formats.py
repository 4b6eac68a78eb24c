from __future__ import annotations

from datetime import UTC, date, datetime

from corporate import formats, records
from corporate.service import CorporateState

# The NTA Web-API Ver.4 answer to /4/num?number=5070001032626,7000020100005&type=12 as published on
# 2021-07-20 (recorded in fillin-inc/go-corp testdata/response/by_numbers.xml): the bytes a client compares.
NTA_XML = """<?xml version="1.0" encoding="UTF-8"?>
<corporations>
  <lastUpdateDate>2021-07-20</lastUpdateDate>
  <count>2</count>
  <divideNumber>1</divideNumber>
  <divideSize>1</divideSize>
  <corporation>
    <sequenceNumber>1</sequenceNumber>
    <corporateNumber>5070001032626</corporateNumber>
    <process>12</process>
    <correct>0</correct>
    <updateDate>2021-06-09</updateDate>
    <changeDate>2021-06-02</changeDate>
    <name>株式会社フィルイン</name>
    <nameImageId />
    <kind>301</kind>
    <prefectureName>群馬県</prefectureName>
    <cityName>高崎市</cityName>
    <streetNumber>飯塚町１４７番地４</streetNumber>
    <addressImageId />
    <prefectureCode>10</prefectureCode>
    <cityCode>202</cityCode>
    <postCode>3700069</postCode>
    <addressOutside />
    <addressOutsideImageId />
    <closeDate />
    <closeCause />
    <successorCorporateNumber />
    <changeCause />
    <assignmentDate>2016-09-05</assignmentDate>
    <latest>1</latest>
    <enName />
    <enPrefectureName />
    <enCityName />
    <enAddressOutside />
    <furigana>フィルイン</furigana>
    <hihyoji>0</hihyoji>
  </corporation>
  <corporation>
    <sequenceNumber>2</sequenceNumber>
    <corporateNumber>7000020100005</corporateNumber>
    <process>01</process>
    <correct>1</correct>
    <updateDate>2018-04-03</updateDate>
    <changeDate>2015-10-05</changeDate>
    <name>群馬県</name>
    <nameImageId />
    <kind>201</kind>
    <prefectureName>群馬県</prefectureName>
    <cityName>前橋市</cityName>
    <streetNumber>大手町１丁目１番１号</streetNumber>
    <addressImageId />
    <prefectureCode>10</prefectureCode>
    <cityCode>201</cityCode>
    <postCode>3710026</postCode>
    <addressOutside />
    <addressOutsideImageId />
    <closeDate />
    <closeCause />
    <successorCorporateNumber />
    <changeCause />
    <assignmentDate>2015-10-05</assignmentDate>
    <latest>1</latest>
    <enName>Gunma Prefectural Government</enName>
    <enPrefectureName>Gunma</enPrefectureName>
    <enCityName>1-1-1, Ote-machi, Maebashi-shi</enCityName>
    <enAddressOutside />
    <furigana>グンマケン</furigana>
    <hihyoji>0</hihyoji>
  </corporation>
</corporations>
""".encode()

_IMPORTED = datetime(2021, 7, 20, tzinfo=UTC)


def _state(fields: dict[str, str]) -> CorporateState:
    return CorporateState(values=tuple(fields.get(name) for name in records.FIELDS), imported_at=_IMPORTED)


FILLIN = _state({
    "sequenceNumber": "1", "corporateNumber": "5070001032626", "process": "12", "correct": "0",
    "updateDate": "2021-06-09", "changeDate": "2021-06-02", "name": "株式会社フィルイン", "kind": "301",
    "prefectureName": "群馬県", "cityName": "高崎市", "streetNumber": "飯塚町１４７番地４", "prefectureCode": "10",
    "cityCode": "202", "postCode": "3700069", "assignmentDate": "2016-09-05", "latest": "1",
    "furigana": "フィルイン", "hihyoji": "0"})
GUNMA = _state({
    "sequenceNumber": "7", "corporateNumber": "7000020100005", "process": "01", "correct": "1",
    "updateDate": "2018-04-03", "changeDate": "2015-10-05", "name": "群馬県", "kind": "201",
    "prefectureName": "群馬県", "cityName": "前橋市", "streetNumber": "大手町１丁目１番１号", "prefectureCode": "10",
    "cityCode": "201", "postCode": "3710026", "assignmentDate": "2015-10-05", "latest": "1",
    "enName": "Gunma Prefectural Government", "enPrefectureName": "Gunma",
    "enCityName": "1-1-1, Ote-machi, Maebashi-shi", "furigana": "グンマケン", "hihyoji": "0"})


def test_xml_is_the_ntas_answer_byte_for_byte() -> None:
    answer = formats.Answer(date(2021, 7, 20), 2, 1, 1, [FILLIN, GUNMA])
    assert formats.render(answer, formats.XML) == NTA_XML


def test_xml_with_no_hit_keeps_the_header_and_escapes_text() -> None:
    assert formats.render(formats.Answer(date(2021, 7, 20), 0, 1, 1, []), formats.XML) == (
        b'<?xml version="1.0" encoding="UTF-8"?>\n<corporations>\n  <lastUpdateDate>2021-07-20</lastUpdateDate>\n'
        b"  <count>0</count>\n  <divideNumber>1</divideNumber>\n  <divideSize>1</divideSize>\n</corporations>\n")
    ampersand = _state({**{name: FILLIN[name] for name in records.FIELDS if FILLIN[name] is not None},
                        "enName": "M&M <Japan>"})
    rendered = formats.render(formats.Answer(date(2021, 7, 20), 1, 1, 1, [ampersand]), formats.XML).decode()
    assert "    <enName>M&amp;M &lt;Japan&gt;</enName>\n" in rendered


def test_csv_is_the_ntas_shape_with_crlf() -> None:
    rendered = formats.render(formats.Answer(date(2021, 7, 20), 1, 1, 1, [FILLIN]), formats.CSV_UNICODE)
    assert rendered == (
        '2021-07-20,1,1,1\r\n1,5070001032626,12,0,2021-06-09,2021-06-02,"株式会社フィルイン",,301,"群馬県","高崎市",'
        '"飯塚町１４７番地４",,10,202,3700069,,,,,,,2016-09-05,1,,,,,"フィルイン",0\r\n').encode()
