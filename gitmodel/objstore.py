"""The one door to object storage: small documents beside a DVC remote's objects.

A local-path remote is a directory: documents are replaced atomically (temporary name,
fsync, rename) and a reader's validator is the file's (inode, size, mtime), so asking
"changed?" of an unchanged document costs one `fstat`.  An `s3://` remote goes through
botocore with conditional GETs: the ETag of the last answer goes back as If-None-Match,
and an unchanged object answers 304 with no body, which object stores (and any CDN in
front of them) serve at any scale.  botocore is imported here only, lazily; it is a
runtime dependency already (dvc-s3's aiobotocore), so there is no new package and no
boto3 release to reconcile with aiobotocore's botocore pin.

Keys are built by gitmodel from validated names, never taken from a document.  Other
DVC remote kinds (gs, azure, ssh, http) are refused with one line.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from gitmodel.errors import RemoteDirMissing, RemoteUnreachable, UsageError

MAX_DOCUMENT = 64 * 1024  # a pointer document is ~2 KB; anything bigger is not one
CHANGED, SAME, ABSENT = "changed", "same", "absent"


@dataclass(frozen=True)
class Fetched:
    status: str  # CHANGED (body and etag set) | SAME (the caller's etag still holds) | ABSENT
    body: bytes | None = None
    etag: str | None = None


class Store(Protocol):
    name: str  # the DVC remote's name
    url: str

    def get(self, key: str, etag: str | None = None) -> Fetched: ...

    def put(self, key: str, body: bytes) -> None: ...


def open_store(name: str, settings: Mapping[str, str], base: Path) -> Store:
    """The store of the DVC remote `name` (its config section `settings`); a relative
    local path is read against `base` (the repository's .dvc directory, as DVC does)."""
    url = settings.get("url", "")
    if url.startswith("s3://"):
        return S3Store(name, url, settings)
    if "://" in url:
        scheme = url.split("://", 1)[0]
        raise UsageError(
            f"DVC remote {name} is {scheme}://: pointer documents go to local-path and s3:// remotes; "
            "name another remote in gitmodel.yaml pointers.remotes (or --pointers REMOTE)"
        )
    path = Path(url) if os.path.isabs(url) else base / url
    return LocalStore(name, Path(os.path.normpath(path)))


def _too_big(url: str) -> UsageError:
    return UsageError(f"{url} is over {MAX_DOCUMENT // 1024} KiB: not a pointer document; republish it")


class LocalStore:
    def __init__(self, name: str, path: Path) -> None:
        self.name, self.path, self.url = name, path, str(path)

    def _file(self, key: str) -> Path:
        return self.path.joinpath(*key.split("/"))

    def get(self, key: str, etag: str | None = None) -> Fetched:
        path = self._file(key)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except FileNotFoundError:
            if not self.path.is_dir():
                raise RemoteDirMissing(self.name, str(self.path)) from None
            return Fetched(ABSENT)
        except OSError as exc:
            raise RemoteUnreachable(f"cannot read {path}: {exc.strerror or exc}") from None
        with os.fdopen(fd, "rb") as fh:
            st = os.fstat(fh.fileno())
            tag = f"{st.st_ino}-{st.st_size}-{st.st_mtime_ns}"
            if tag == etag:
                return Fetched(SAME, etag=etag)
            body = fh.read(MAX_DOCUMENT + 1)
        if len(body) > MAX_DOCUMENT:
            raise _too_big(str(path))
        return Fetched(CHANGED, body, tag)

    def put(self, key: str, body: bytes) -> None:
        # Never create the remote itself: an unmounted mount point would quietly collect
        # documents no host reads (the same rule as DVC transfers, gitmodel/dvc/).
        if not self.path.is_dir():
            raise RemoteDirMissing(self.name, str(self.path))
        path = self._file(key)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
            with os.fdopen(fd, "wb") as fh:
                fh.write(body)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise RemoteUnreachable(f"cannot write {path}: {exc.strerror or exc}") from None


class S3Store:
    """An S3 (or S3-compatible) bucket and prefix, with the remote's DVC settings."""

    def __init__(self, name: str, url: str, settings: Mapping[str, str]) -> None:
        self.name, self.url = name, url.rstrip("/")
        bucket, _, prefix = url.removeprefix("s3://").partition("/")
        if not bucket:
            raise UsageError(f"DVC remote {name} url {url} names no bucket; fix it with `dvc remote modify`")
        self.bucket, self.prefix = bucket, prefix.strip("/")
        self._settings = dict(settings)
        self._client: Any = None

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def client(self) -> Any:
        if self._client is None:
            import botocore.session  # noqa: TID251 (this is the door)
            from botocore.config import Config  # noqa: TID251

            s = self._settings
            session = botocore.session.Session(profile=s.get("profile") or None)
            verify = s.get("ssl_verify", "true").lower() not in ("false", "0", "no")
            self._client = session.create_client(
                "s3",
                endpoint_url=s.get("endpointurl") or None,
                region_name=s.get("region") or None,
                aws_access_key_id=s.get("access_key_id") or None,
                aws_secret_access_key=s.get("secret_access_key") or None,
                aws_session_token=s.get("session_token") or None,
                verify=verify,
                config=Config(connect_timeout=5, read_timeout=10, retries={"max_attempts": 2}),
            )
        return self._client

    def get(self, key: str, etag: str | None = None) -> Fetched:
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: TID251

        extra = {"IfNoneMatch": etag} if etag else {}
        try:
            answer = self.client().get_object(Bucket=self.bucket, Key=self._key(key), **extra)
            body = answer["Body"].read(MAX_DOCUMENT + 1)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if status == 304 or code == "304":
                return Fetched(SAME, etag=etag)
            if status == 404 or code in ("NoSuchKey", "404"):
                return Fetched(ABSENT)
            raise self._failed("read", key, code or str(status)) from None
        except BotoCoreError as exc:
            raise self._failed("read", key, str(exc)) from None
        if len(body) > MAX_DOCUMENT:
            raise _too_big(f"{self.url}/{key}")
        return Fetched(CHANGED, body, str(answer.get("ETag") or ""))

    def chunks(self, key: str, size: int = 8 << 20) -> Iterator[bytes] | None:
        """A whole object's bytes as they arrive: one plain GET, no ranges (moto re-reads the
        object for every ranged GET, FACTS.md); None when it is absent.  For DVC objects
        (gitmodel/dvc/wire.py), which the caller verifies by their md5 names."""
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: TID251

        try:
            body = self.client().get_object(Bucket=self.bucket, Key=self._key(key))["Body"]
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in ("NoSuchKey", "404"):
                return None
            raise self._failed("read", key, code) from None
        except BotoCoreError as exc:
            raise self._failed("read", key, str(exc)) from None

        def read() -> Iterator[bytes]:
            try:
                while chunk := body.read(size):
                    yield chunk
            except BotoCoreError as exc:
                raise self._failed("read", key, str(exc)) from None
            finally:
                body.close()

        return read()

    def put(self, key: str, body: bytes) -> None:
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: TID251

        try:
            self.client().put_object(
                Bucket=self.bucket,
                Key=self._key(key),
                Body=body,
                ContentType="application/json",
                # Caches in front of the bucket must ask again each time (and get a 304).
                CacheControl="no-cache",
            )
        except ClientError as exc:
            raise self._failed("write", key, str(exc.response.get("Error", {}).get("Code", ""))) from None
        except BotoCoreError as exc:
            raise self._failed("write", key, str(exc)) from None

    def _failed(self, what: str, key: str, why: str) -> RemoteUnreachable:
        return RemoteUnreachable(
            f"cannot {what} {self.url}/{key} (DVC remote {self.name}): {why}; "
            "check its endpoint and credentials (`dvc remote list`, AWS_* variables)"
        )
