"""auth: API keys (argon2-hashed, shown once) and JWT bearer tokens; roles; per-caller rate limits.

Answers the http transport's ``pygent_http_authenticate``. Roles: viewer (read), operator (read,
write), admin (everything). Keys are managed with ``pygent auth create-key|list|revoke``.
Failed attempts are limited per client address and per key id; ``?token=`` is accepted only on
WebSocket and Server-Sent Events requests.
"""

from __future__ import annotations

import time
from typing import Any

import anyio
from pydantic import Field
from pygent_sdk import Health, Plugin, PluginConfig, hookimpl, hookspec
from pygent_sdk.http import ROLE_PERMISSIONS, AuthFailed, Principal

from .keys import PREFIX, UNKNOWN, KeyInfo, KeyStore, RateLimiter, key_id_of, principal_of

QUERY_TOKEN_KINDS = ("websocket", "sse")  # where a browser cannot send headers
JWT_CACHE_SIZE = 1024


class AuthHooks:
    """Hooks the auth plugin declares."""

    @hookspec(firstresult=True)
    def pygent_auth_keys(self) -> KeyStore | None:
        """Return the API key store (create, list, revoke); the auth plugin answers.

        Used by the plugin's own ``pygent auth`` commands and by tests; firstresult.
        """


class AuthConfig(PluginConfig):
    """Configuration of the ``[auth]`` table."""

    jwt_secret: str = Field(
        "", description="HS256 secret for JWT bearer tokens, from the environment: "
        '"${PYGENT_JWT_SECRET}". Empty: JWTs are refused.',
    )
    jwt_audience: str | None = Field(None, description="Required `aud` claim of JWTs, if set.")
    jwt_max_lifetime_s: int = Field(
        86_400, ge=1, description="Longest JWT accepted, in seconds: tokens whose exp - iat or "
        "exp - now exceeds it are refused (`iat` is required).",
    )
    rate_limit_per_minute: int = Field(
        600, ge=1,
        description="Requests and WebSocket frames per minute per caller (a key may set its own).",
    )
    failed_attempts_per_minute: int = Field(
        10, ge=1, description="Failed authentications allowed per minute per client address and "
        "per API key id (bursts up to the same number); beyond it: 429.",
    )


class AuthPlugin(Plugin):
    """Authenticates HTTP callers by API key or JWT and rate-limits them."""

    Config = AuthConfig
    provides = ("auth",)
    config: AuthConfig
    store: KeyStore | None = None
    limiter: RateLimiter | None = None

    @hookimpl
    def pygent_addhooks(self, pluginmanager: Any) -> None:
        pluginmanager.add_hookspecs(AuthHooks)

    async def start(self) -> None:
        self.store = KeyStore(self.context.data_dir / "keys.json")
        self.limiter = RateLimiter()
        self.failures = RateLimiter()
        self._verifying: dict[str, anyio.Event] = {}
        self._hashers = anyio.CapacityLimiter(2)  # argon2 is slow on purpose: bound the threads
        self._jwts: dict[str, tuple[Principal, float]] = {}  # token -> (principal, exp)

    async def stop(self) -> None:
        if self.store is not None:
            self.store.close()

    @hookimpl
    def pygent_auth_keys(self) -> KeyStore | None:
        return self.store

    async def _key(self, key: str, client: str | None) -> KeyInfo:
        """The key's record. argon2 runs once per key: concurrent first requests wait for it."""
        assert self.store is not None
        info = self.store.cached(key)
        if info is not None:
            return info
        busy = self._verifying.get(key)
        if busy is not None:
            await busy.wait()
            info = self.store.cached(key)
            if info is None:
                raise AuthFailed(401, UNKNOWN)
            return info
        watched = self._attempt(client, f"key-id:{key_id_of(key)}")
        done = self._verifying[key] = anyio.Event()
        try:
            info = await anyio.to_thread.run_sync(self.store.verify, key, limiter=self._hashers)
            info = self.store.remember(key, info)
        finally:
            del self._verifying[key]
            done.set()
        self._succeeded(watched)
        return info

    def _attempt(self, client: str | None, *names: str) -> list[str]:
        """Count an attempt as failed until it succeeds; 429 once a client or id has too many."""
        watched = [*([f"client:{client}"] if client else []), *names]
        rate = self.config.failed_attempts_per_minute
        for n, name in enumerate(watched):
            try:
                self.failures.take(name, rate, "failed attempts")
            except AuthFailed:
                self._succeeded(watched[:n])
                raise
        return watched

    def _succeeded(self, watched: list[str]) -> None:
        for name in watched:
            self.failures.give_back(name, self.config.failed_attempts_per_minute)

    def _jwt(self, token: str, client: str | None) -> Principal:
        """The token's principal; decoded tokens are remembered until they expire."""
        cached = self._jwts.get(token)
        if cached is not None and cached[1] > time.time():
            return cached[0]
        watched = self._attempt(client)
        principal, expires = self._decode(token)
        self._succeeded(watched)
        if len(self._jwts) >= JWT_CACHE_SIZE:
            now = time.time()
            self._jwts = {t: v for t, v in self._jwts.items() if v[1] > now}
            if len(self._jwts) >= JWT_CACHE_SIZE:
                self._jwts.clear()
        self._jwts[token] = (principal, expires)
        return principal

    def _decode(self, token: str) -> tuple[Principal, float]:
        import jwt

        if not self.config.jwt_secret:
            raise AuthFailed(401, "JWT bearer tokens are not accepted: [auth] jwt_secret is unset")
        try:
            claims = jwt.decode(
                token, self.config.jwt_secret, algorithms=["HS256"],
                audience=self.config.jwt_audience, options={"require": ["sub", "exp", "iat"]},
            )
        except jwt.PyJWTError as error:
            raise AuthFailed(401, f"invalid JWT: {error}") from None
        try:
            expires, issued = float(claims["exp"]), float(claims["iat"])
        except (TypeError, ValueError):
            raise AuthFailed(401, "invalid JWT: exp and iat must be numbers") from None
        longest = self.config.jwt_max_lifetime_s
        if expires - issued > longest or expires - time.time() > longest:
            raise AuthFailed(401, f"invalid JWT: it lives longer than the {longest} s allowed "
                             "([auth] jwt_max_lifetime_s)")
        role = claims.get("role", "viewer")
        if not isinstance(role, str) or role not in ROLE_PERMISSIONS:
            raise AuthFailed(401, f"invalid JWT: role must be one of {', '.join(ROLE_PERMISSIONS)}")
        if not isinstance(claims["sub"], str):
            raise AuthFailed(401, "invalid JWT: sub must be a string")
        return Principal(f"jwt:{claims['sub']}", role), expires  # type: ignore[arg-type]

    @hookimpl(optionalhook=True)
    async def pygent_http_authenticate(
        self, authorization: str | None, api_key: str | None, token: str | None, kind: str,
        client: str | None,
    ) -> Principal | None:
        assert self.store is not None and self.limiter is not None
        bearer = None
        if authorization and authorization[:7].lower() == "bearer ":
            bearer = authorization[7:].strip()
        if token and kind not in QUERY_TOKEN_KINDS:
            if not (api_key or bearer):
                raise AuthFailed(401, "?token= is accepted only on WebSocket and Server-Sent "
                                 "Events requests: send an X-API-Key header or Authorization: "
                                 "Bearer <JWT>")
            token = None
        credential = api_key or bearer or token
        if not credential:
            return None
        rate = self.config.rate_limit_per_minute
        if credential.startswith(PREFIX):
            info = await self._key(credential, client)
            principal, rate = principal_of(info), info.rate_per_minute or rate
        else:
            principal = self._jwt(credential, client)
        self.limiter.take(principal.name, rate)
        return principal

    @hookimpl
    def pygent_health(self) -> Health:
        active = sum(not k.revoked for k in self.store.keys.values()) if self.store else 0
        jwt = "JWT on" if self.config.jwt_secret else "JWT off"
        return Health.ok(f"{active} active API key(s), {jwt}")

    @staticmethod
    @hookimpl
    def pygent_cli_commands(cli: Any) -> None:
        from .cli import register

        register(cli)
