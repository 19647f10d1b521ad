"""The auth plugin under concurrency and attack: a shared key store, revocation, failed attempts,
JWTs."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import anyio
import jwt
import pytest
from pygent_plugins.auth import AuthPlugin
from pygent_plugins.auth.keys import KeyStore
from pygent_sdk.http import AuthFailed, Principal
from pygent_sdk.testing import PluginHarness

from .http_kit import JWT_SECRET, served

pytestmark = pytest.mark.anyio
PYGENT = str(Path(sys.executable).with_name("pygent"))


def plugins_toml(tmp_path: Path) -> dict[str, str]:
    """The environment of a ``pygent`` command using the same data dir as ``harness``."""
    path = tmp_path / "plugins.toml"
    path.write_text(f'[kernel]\ndata_dir = "{tmp_path}/data"\n\n[auth]\n')
    return {**os.environ, "PYGENT_CONFIG": str(path)}


def harness(tmp_path: Path, **auth: object) -> PluginHarness:
    """The auth plugin alone, its data in ``tmp_path/data`` (as ``plugins_toml`` says)."""
    return PluginHarness({"auth": AuthPlugin},
                         {"kernel": {"data_dir": str(tmp_path / "data")}, "auth": auth})


async def login(h: PluginHarness, key: str, client: str = "10.0.0.1") -> Principal:
    """The auth plugin's answer, as the http transport asks it (no transport needed here)."""
    return await h.plugin("auth").pygent_http_authenticate(
        authorization=None, api_key=key, token=None, kind="http", client=client)


def test_six_parallel_create_key_runs_all_keys_work(tmp_path: Path) -> None:
    env = plugins_toml(tmp_path)
    command = [PYGENT, "auth", "create-key", "--role", "viewer"]
    runs = [subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True) for _ in range(6)]
    outputs = [run.communicate(timeout=120)[0] for run in runs]
    assert [run.returncode for run in runs] == [0] * 6, outputs
    keys = [out.strip().splitlines()[-1] for out in outputs]
    assert all(k.startswith("pgk_") for k in keys) and len(set(keys)) == 6, outputs
    store = KeyStore(tmp_path / "data" / "auth" / "keys.json")
    try:
        assert len(store.keys) == 6
        assert sorted(store.verify(k).id for k in keys) == sorted(store.keys)
    finally:
        store.close()


async def test_revoke_from_another_process_holds_on_the_next_request(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        store = h.kernel.hook.pygent_auth_keys()
        for _ in range(3):
            info, key = store.create("viewer")
            assert (await login(h, key)).name == f"key:{info.id}"  # verified and cached
            done = subprocess.run([PYGENT, "auth", "revoke", info.id], capture_output=True,
                                  text=True, timeout=60, env=plugins_toml(tmp_path))
            assert "Revoked" in done.stdout, done.stdout + done.stderr
            with pytest.raises(AuthFailed) as refused:
                await login(h, key)
            assert refused.value.status == 401


async def test_revocation_is_seen_even_when_the_file_keeps_its_mtime(tmp_path: Path) -> None:
    """File systems with coarse timestamps: a change within one tick leaves the mtime as it was."""
    async with harness(tmp_path) as h:
        store = h.kernel.hook.pygent_auth_keys()
        other = KeyStore(store.path)  # another process's view of the same files
        try:
            for _ in range(3):
                info, key = other.create("viewer")
                await login(h, key)
                before = os.stat(store.path)
                other.revoke(info.id)
                os.utime(store.path, ns=(before.st_atime_ns, before.st_mtime_ns))
                with pytest.raises(AuthFailed):
                    await login(h, key)
        finally:
            other.close()


async def test_a_key_revoked_while_its_first_check_runs_is_not_remembered(tmp_path: Path) -> None:
    async with harness(tmp_path, failed_attempts_per_minute=100) as h:
        store = h.kernel.hook.pygent_auth_keys()
        _, steady = store.create("viewer")
        await login(h, steady)
        other = KeyStore(store.path)
        try:
            for _ in range(6):
                info, key = other.create("viewer")
                async with anyio.create_task_group() as tg:
                    tg.start_soon(_ignore_401, login(h, key))  # argon2 runs in a thread...
                    await anyio.sleep(0.02)
                    other.revoke(info.id)  # ...while another process revokes the key
                    await login(h, steady)  # and another request sees the revocation
                with pytest.raises(AuthFailed) as refused:
                    await login(h, key)
                assert refused.value.status == 401
        finally:
            other.close()


async def _ignore_401(attempt) -> None:  # type: ignore[no-untyped-def]
    try:
        await attempt
    except AuthFailed as failed:
        assert failed.status == 401


async def test_wrong_secret_for_a_known_id_takes_as_long_as_an_unknown_id(tmp_path: Path) -> None:
    async with harness(tmp_path, failed_attempts_per_minute=1000) as h:
        store = h.kernel.hook.pygent_auth_keys()
        info, _ = store.create("viewer")

        async def timed(key: str) -> tuple[float, str]:
            started = time.perf_counter()
            with pytest.raises(AuthFailed) as refused:
                await login(h, key)
            assert refused.value.status == 401
            return time.perf_counter() - started, str(refused.value)

        known, unknown = [], []
        for n in range(5):
            known.append(await timed(f"pgk_{info.id}_wrong-secret-{n}"))
            unknown.append(await timed(f"pgk_{n:08x}_wrong-secret-{n}"))
        assert {message for _, message in known + unknown} == {"unknown or revoked API key"}
        fast, slow = sorted(statistics.median(t for t, _ in tries) for tries in (known, unknown))
        assert slow < 3 * fast, (known, unknown)


async def test_failed_attempts_are_limited_per_client_and_per_key_id(tmp_path: Path) -> None:
    async with harness(tmp_path, failed_attempts_per_minute=3) as h:
        store = h.kernel.hook.pygent_auth_keys()
        info, key = store.create("viewer")
        for n in range(3):  # one client guessing ids
            with pytest.raises(AuthFailed) as refused:
                await login(h, f"pgk_{n:08x}_guess", client="10.0.0.66")
            assert refused.value.status == 401
        with pytest.raises(AuthFailed) as limited:
            await login(h, f"pgk_{9:08x}_guess", client="10.0.0.66")
        assert limited.value.status == 429 and "3 failed attempts per minute" in str(limited.value)
        assert limited.value.retry_after and limited.value.retry_after > 0
        for n in range(3):  # many clients guessing one id's secret
            with pytest.raises(AuthFailed) as refused:
                await login(h, f"pgk_{info.id}_guess{n}", client=f"10.1.0.{n}")
            assert refused.value.status == 401
        with pytest.raises(AuthFailed) as limited:
            await login(h, f"pgk_{info.id}_guess", client="10.1.0.99")
        assert limited.value.status == 429
        other, other_key = store.create("viewer")  # other clients and ids are unaffected
        assert (await login(h, other_key, client="10.2.0.1")).name == f"key:{other.id}"
        with pytest.raises(AuthFailed) as wrong:
            await login(h, f"pgk_{other.id}_guess", client="10.2.0.2")
        assert wrong.value.status == 401


async def test_jwt_lifetime_iat_and_claim_types() -> None:
    async with served() as s, s.client(None) as anonymous:
        now = time.time()

        async def status(**claims: object) -> tuple[int, str]:
            token = jwt.encode({"sub": "ci", **claims}, JWT_SECRET)
            r = await anonymous.get("/api/v1/agents", headers={"Authorization": f"Bearer {token}"})
            return r.status_code, r.json()["detail"] if r.status_code != 200 else ""

        assert (await status(iat=now, exp=now + 3600))[0] == 200
        no_iat = await status(exp=now + 60)
        assert no_iat[0] == 401 and 'missing the "iat" claim' in no_iat[1]
        for claims in [{"iat": now, "exp": now + 86_401},
                       {"iat": now - 10, "exp": now + 10 * 86_400}]:
            long = await status(**claims)
            assert long[0] == 401 and "jwt_max_lifetime_s" in long[1], long
        for role in (["admin"], {"admin": 1}, 1, "root"):
            bad = await status(iat=now, exp=now + 60, role=role)
            assert bad[0] == 401 and "role must be one of" in bad[1], bad


async def test_query_token_only_for_websocket_and_sse() -> None:
    async with served() as s, s.client(None) as anonymous:
        key = s.keys["viewer"]
        plain = await anonymous.get(f"/api/v1/agents?token={key}")
        assert plain.status_code == 401
        assert "only on WebSocket and Server-Sent Events" in plain.json()["detail"]
        headed = await anonymous.get("/api/v1/agents", headers={"X-API-Key": key})
        assert headed.status_code == 200
        stream = f"/api/v1/events/stream?topics=agent.>&token={key}"
        async with anonymous.stream("GET", stream) as sse:
            assert sse.status_code == 200


async def test_a_remembered_jwt_stops_working_when_it_expires(tmp_path: Path) -> None:
    async with harness(tmp_path, jwt_secret=JWT_SECRET) as h:
        now = time.time()
        claims = {"sub": "ci", "iat": now, "exp": now + 1.5, "role": "operator"}
        token = jwt.encode(claims, JWT_SECRET)

        async def bearer() -> Principal:
            return await h.plugin("auth").pygent_http_authenticate(
                authorization=f"Bearer {token}", api_key=None, token=None, kind="websocket",
                client="10.0.0.1")

        assert (await bearer()).name == "jwt:ci" and (await bearer()).role == "operator"
        await anyio.sleep(2)
        with pytest.raises(AuthFailed) as expired:
            await bearer()
        assert expired.value.status == 401 and "expired" in str(expired.value)


def test_rate_limiter_forgets_refilled_buckets_once_it_holds_many() -> None:
    from pygent_plugins.auth.keys import RateLimiter

    limiter = RateLimiter()
    limiter.MAX_BUCKETS = 100
    limiter.take("old", 10)
    limiter._buckets["old"] = (9.0, time.monotonic() - 61)  # refilled: may be forgotten
    for n in range(150):
        limiter.take(f"caller{n}", 10)
    assert "old" not in limiter._buckets and len(limiter._buckets) == 150
    with pytest.raises(AuthFailed):  # recent callers are kept: their spending still counts
        for _ in range(10):
            limiter.take("caller149", 10)
