"""The public catalogue API: list, accent-insensitive search, read, and caching by ETag."""


async def test_search_ignores_accents_and_filters(intake):
    found = await intake.client.get("/v1/procedures", params={"q": "ly lich tu phap"})
    assert found.status_code == 200
    assert [p["code"] for p in found.json()["items"]] == ["3.000333"]
    commune = (await intake.client.get("/v1/procedures", params={"level": "commune"})).json()["items"]
    assert commune and all(p["level"] == "commune" for p in commune)
    police = (await intake.client.get("/v1/procedures", params={"agency": "000.00.31.H56"})).json()["items"]
    assert {p["code"] for p in police} == {"2.001478", "3.000333"}
    assert (await intake.client.get("/v1/procedures", params={"level": "planet"})).status_code == 422


async def test_a_procedure_carries_documents_form_fees_and_time_limit(intake):
    response = await intake.client.get("/v1/procedures/2.000815")
    body = response.json()
    assert body["name"].startswith("Chứng thực bản sao từ bản chính")
    assert body["form"]["required"] == ["document_title", "pages"]
    assert body["fees"][0]["maximum"] == 200000 and body["processing_time"]["kind"] == "same_day"
    assert body["documents"][0]["accepted_types"]
    missing = await intake.client.get("/v1/procedures/9.999999")
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("application/problem+json")


async def test_catalogue_responses_are_cacheable_by_etag(intake):
    first = await intake.client.get("/v1/procedures/1.001193")
    etag = first.headers["ETag"]
    assert etag == intake.ctx.catalogue.etag and "max-age" in first.headers["Cache-Control"]
    for path in ("/v1/procedures/1.001193", "/v1/procedures?q=khai%20sinh", "/v1/agencies"):
        cached = await intake.client.get(path, headers={"If-None-Match": etag})
        assert cached.status_code == 304 and cached.content == b""
    stale = await intake.client.get("/v1/procedures/1.001193", headers={"If-None-Match": '"something-else"'})
    assert stale.status_code == 200 and stale.json()["code"] == "1.001193"
