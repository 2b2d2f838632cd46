"""Simulator of the provincial SSO (OpenID Connect provider) for officers.

GET /.well-known/openid-configuration and GET /jwks.json publish an RSA key (rotated with
POST /_sim/rotate, the old key staying published for an overlap); POST /_sim/token
{"sub", "name", "agency", "roles"} issues an RS256 ID token as the real SSO would after sign-in."""
from __future__ import annotations

import time
import uuid
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI, Request
from pydantic import BaseModel, Field


class TokenRequest(BaseModel):
    sub: str
    name: str
    agency: str
    roles: list[str] = Field(default_factory=list)
    ttl_s: int = 3600


def _new_key() -> tuple[str, Any]:
    return f"k-{uuid.uuid4().hex[:8]}", rsa.generate_private_key(public_exponent=65537, key_size=2048)


def create_app(issuer: str = "http://sso.example/realms/tinh", audience: str = "onestop") -> FastAPI:
    app = FastAPI(title="Provincial SSO simulator")
    keys: list[tuple[str, Any]] = [_new_key()]   # newest first; all are published

    @app.get("/.well-known/openid-configuration")
    async def configuration(request: Request) -> dict[str, Any]:
        return {"issuer": issuer, "jwks_uri": str(request.url_for("jwks")), "id_token_signing_alg_values_supported": ["RS256"]}

    @app.get("/jwks.json", name="jwks")
    async def jwks() -> dict[str, Any]:
        published = []
        for kid, key in keys:
            jwk = jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
            published.append({**jwk, "kid": kid, "use": "sig", "alg": "RS256"})
        return {"keys": published}

    @app.post("/_sim/token")
    async def token(body: TokenRequest) -> dict[str, str]:
        kid, key = keys[0]
        now = int(time.time())
        claims = {"iss": issuer, "aud": audience, "sub": body.sub, "name": body.name, "agency": body.agency,
                  "roles": body.roles, "iat": now, "exp": now + body.ttl_s}
        return {"id_token": jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})}

    @app.post("/_sim/rotate")
    async def rotate() -> dict[str, str]:
        keys.insert(0, _new_key())
        del keys[2:]   # the previous key stays published for the overlap
        return {"kid": keys[0][0]}

    return app
