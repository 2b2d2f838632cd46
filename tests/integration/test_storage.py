"""The storage adapters: a local directory, and S3 against a real S3-compatible HTTP server (moto's)."""
import boto3
import httpx
import pytest
from moto.server import ThreadedMotoServer

from shared.storage import LocalStorage, S3Storage, StorageKeyError, storage_from_url
from tests.infra import free_port


@pytest.fixture(scope="module")
def s3_endpoint(monkeypatch_module):
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    for name, value in {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "S3_ENDPOINT_URL": endpoint}.items():
        monkeypatch_module.setenv(name, value)
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket="onestop-files")
    yield endpoint
    server.stop()


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


@pytest.fixture(params=["local", "s3"])
def storage(request, tmp_path):
    if request.param == "local":
        return storage_from_url(f"file:{tmp_path}")
    request.getfixturevalue("s3_endpoint")
    return storage_from_url("s3://onestop-files")


async def test_put_get_exists(storage):
    key = "documents/ab/abcdef"
    assert not await storage.exists(key)
    await storage.put(key, b"%PDF-1.4 tai lieu", "application/pdf")
    assert await storage.exists(key)
    assert await storage.get(key) == b"%PDF-1.4 tai lieu"
    await storage.put(key, b"%PDF-1.4 tai lieu", "application/pdf")   # a retried write is harmless
    assert await storage.get(key) == b"%PDF-1.4 tai lieu"
    await storage.delete(key)
    assert not await storage.exists(key)
    await storage.delete(key)   # deleting what is gone is not an error


@pytest.mark.parametrize("key", ["../etc/passwd", "/abs", "a//b", "a/./b", ""])
async def test_keys_cannot_escape(storage, key):
    with pytest.raises(StorageKeyError):
        await storage.put(key, b"x", "text/plain")


async def test_signed_links_download_without_credentials(s3_endpoint):
    storage = storage_from_url("s3://onestop-files")
    assert isinstance(storage, S3Storage)
    await storage.put("results/r1.pdf", b"%PDF-1.7 ket qua", "application/pdf")
    async with httpx.AsyncClient() as client:
        response = await client.get(storage.signed_url("results/r1.pdf", expires_s=60))
    assert response.status_code == 200 and response.content == b"%PDF-1.7 ket qua"


def test_unknown_storage_url_is_refused(tmp_path):
    assert isinstance(storage_from_url(f"file:{tmp_path}"), LocalStorage)
    with pytest.raises(ValueError):
        storage_from_url("ftp://files")
    with pytest.raises(ValueError):
        storage_from_url("s3://")
