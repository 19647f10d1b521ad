"""auth: API keys (argon2-hashed, shown once) and JWT bearer tokens; roles; per-caller rate limits.

Answers the http transport's ``pygent_http_authenticate``. Roles: viewer (read), operator (read,
write), admin (everything). Keys are managed with ``pygent auth create-key|list|revoke``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio
from pydantic import Field
from pygent_sdk import Health, Plugin, PluginConfig, hookimpl, hookspec
from pygent_sdk.http import ROLE_PERMISSIONS, AuthFailed, Principal

if TYPE_CHECKING:
    from .keys import KeyInfo, KeyStore, RateLimiter


class AuthHooks:
    """Hooks the auth plugin declares."""

    @hookspec(firstresult=True)
    def pygent_auth_keys(self) -> KeyStore | None:
        """Return the API key store (create, list, revoke); the auth plugin answers."""


class AuthConfig(PluginConfig):
    """Configuration of the ``[auth]`` table."""

    jwt_secret: str = Field(
        "", description='HS256 secret for JWT bearer tokens, from the environment: "${PYGENT_JWT_SECRET}". '
        "Empty: JWTs are refused.",
    )
    jwt_audience: str | None = Field(None, description="Required `aud` claim of JWTs, if set.")
    rate_limit_per_minute: int = Field(
        600, ge=1, description="Requests per minute per caller (a key may set its own)."
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
        from .keys import KeyStore, RateLimiter

        self.store = KeyStore(self.context.data_dir / "keys.json")
        self.limiter = RateLimiter()
        self._verifying: dict[str, anyio.Event] = {}
        self._hashers = anyio.CapacityLimiter(2)  # argon2 is slow on purpose: bound the threads

    async def _key(self, key: str) -> KeyInfo:
        """The key's record. argon2 runs once per key: concurrent first requests wait for it."""
        info = self.store.cached(key)
        if info is not None:
            return info
        busy = self._verifying.get(key)
        if busy is not None:
            await busy.wait()
            info = self.store.cached(key)
            if info is None:
                raise AuthFailed(401, "unknown or revoked API key")
            return info
        done = self._verifying[key] = anyio.Event()
        try:
            return await anyio.to_thread.run_sync(self.store.verify, key, limiter=self._hashers)
        finally:
            del self._verifying[key]
            done.set()

    @hookimpl
    def pygent_auth_keys(self) -> KeyStore | None:
        return self.store

    def _jwt(self, token: str) -> Principal:
        import jwt

        if not self.config.jwt_secret:
            raise AuthFailed(401, "JWT bearer tokens are not accepted: [auth] jwt_secret is not set")
        try:
            claims = jwt.decode(
                token, self.config.jwt_secret, algorithms=["HS256"],
                audience=self.config.jwt_audience, options={"require": ["sub", "exp"]},
            )
        except jwt.PyJWTError as error:
            raise AuthFailed(401, f"invalid JWT: {error}") from None
        role = claims.get("role", "viewer")
        if role not in ROLE_PERMISSIONS:
            raise AuthFailed(401, f"invalid JWT: unknown role {role!r}")
        return Principal(f"jwt:{claims['sub']}", role)

    @hookimpl(optionalhook=True)
    async def pygent_http_authenticate(
        self, authorization: str | None, api_key: str | None, token: str | None
    ) -> Principal | None:
        from .keys import PREFIX, principal_of

        assert self.store is not None and self.limiter is not None
        bearer = authorization[7:].strip() if authorization and authorization[:7].lower() == "bearer " else None
        credential = api_key or bearer or token
        if not credential:
            return None
        rate = self.config.rate_limit_per_minute
        if credential.startswith(PREFIX):
            info = await self._key(credential)
            principal, rate = principal_of(info), info.rate_per_minute or rate
        else:
            principal = self._jwt(credential)
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
