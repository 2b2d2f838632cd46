"""Where files live (uploaded documents, receipts, results), behind one small port.

`file:<dir>` is the local directory of the embedded default and single-host installs;
`s3://<bucket>` any S3-compatible object store (MinIO, Ceph, a cloud), configured by
`S3_ENDPOINT_URL`, `S3_REGION` and the usual `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`.
Keys are content-addressed by the callers (sha256), so a retried write is harmless."""
from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path
from typing import Protocol


class Storage(Protocol):
    async def put(self, key: str, data: bytes, content_type: str) -> None: ...
    async def get(self, key: str) -> bytes: ...
    async def exists(self, key: str) -> bool: ...
    async def delete(self, key: str) -> None: ...


class StorageKeyError(ValueError):
    pass


def _safe(key: str) -> str:
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise StorageKeyError(f"invalid storage key {key!r}")
    return key


class LocalStorage:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root / _safe(key)

    def _write(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write then rename: a reader never sees half a file, a crash leaves no partial object.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        await asyncio.to_thread(self._write, key, data)

    async def get(self, key: str) -> bytes:
        return await asyncio.to_thread(self._path(key).read_bytes)

    async def exists(self, key: str) -> bool:
        return self._path(key).exists()

    async def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)


class S3Storage:
    """boto3 (the maintained S3 client) run in worker threads; objects are small documents."""

    def __init__(self, bucket: str, *, endpoint_url: str | None = None, region: str | None = None) -> None:
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        self._client = boto3.client("s3", endpoint_url=endpoint_url, region_name=region or "us-east-1",
                                    config=Config(retries={"max_attempts": 4, "mode": "standard"},
                                                  connect_timeout=5, read_timeout=30))

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        await asyncio.to_thread(self._client.put_object, Bucket=self.bucket, Key=_safe(key), Body=data,
                                ContentType=content_type)

    async def get(self, key: str) -> bytes:
        def read() -> bytes:
            return self._client.get_object(Bucket=self.bucket, Key=_safe(key))["Body"].read()
        return await asyncio.to_thread(read)

    async def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            await asyncio.to_thread(self._client.head_object, Bucket=self.bucket, Key=_safe(key))
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._client.delete_object, Bucket=self.bucket, Key=_safe(key))

    def signed_url(self, key: str, expires_s: int = 300) -> str:
        """A short-lived download link that needs no credentials."""
        return self._client.generate_presigned_url("get_object", Params={"Bucket": self.bucket, "Key": _safe(key)},
                                                   ExpiresIn=expires_s)


def storage_from_url(url: str) -> Storage:
    if url.startswith("file:"):
        return LocalStorage(Path(url.removeprefix("file:")).expanduser())
    if url.startswith("s3://"):
        bucket = url.removeprefix("s3://").strip("/")
        if not bucket or "/" in bucket:
            raise ValueError(f"storage_url {url!r}: use s3://<bucket>")
        return S3Storage(bucket, endpoint_url=os.environ.get("S3_ENDPOINT_URL"), region=os.environ.get("S3_REGION"))
    raise ValueError(f"unsupported storage_url {url!r}: use file:<directory> or s3://<bucket>")
