"""HTTP benchmarks: PyGent's http plugin against an equivalent FastAPI + uvicorn app, one run.

1. ``GET /api/v1/plugins`` (little kernel work: the transport shows), ``GET /api/v1/health`` and
   ``POST /api/v1/chat`` (answered by the SDK's scripted model) with
   wrk (a separate process) at 256 connections: requests/s and latency percentiles of each server,
   and the ratio. Goal: >= 1.5x FastAPI's requests/s with p99 under 50 ms.
2. 1,000 WebSocket clients (a separate process) held open on PyGent's ``/ws``, each sending a
   chat_message and pings; every streamed frame must arrive. Goal: no message lost.

Every server runs the same kernel (see ``_http_servers.py``), one worker each, in turn: FastAPI
on uvicorn, and PyGent's http plugin on each ASGI server it can embed (uvicorn, granian).
Needs wrk (``apt-get install wrk``). Run: ``python bench/http.py [--quick] [--uvloop]``.
"""

from __future__ import annotations

import sys

sys.path[:1] = []  # this file is http.py: keep it from shadowing the standard library's http

import argparse
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

HERE = Path(__file__).parent
ENDPOINTS: list[tuple[str, str, str | None]] = []
CHAT_LUA = """
wrk.method = "POST"
wrk.body = '{"message": "hello there"}'
wrk.headers["Content-Type"] = "application/json"
"""


def start(which: str, port: int, data: str) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, str(HERE / "_http_servers.py"), which, str(port), data],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    line = process.stdout.readline()  # type: ignore[union-attr]
    if not line.startswith("READY"):
        process.kill()
        raise SystemExit(f"{which} server did not start")
    return process, line.split()[1]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


Run = tuple[float, dict[str, float], float]
"""requests/s, latency percentiles in ms, server CPU microseconds per request."""


def stop(process: subprocess.Popen[str]) -> None:
    """SIGTERM, then SIGKILL (said aloud) if the server is not gone within 60 s."""
    process.terminate()
    try:
        process.wait(60)
    except subprocess.TimeoutExpired:
        print(f"   ({' '.join(process.args[-3:-1])} did not stop within 60 s of SIGTERM: killed)")  # type: ignore[index]
        process.kill()
        process.wait()


def wrk(url: str, key: str, seconds: int, connections: int, script: str | None, pid: int) -> Run:
    """One wrk run against the server process ``pid``; non-2xx responses are fatal."""
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-H", f"X-API-Key: {key}"]
    if script:
        command += ["-s", script]
    cpu = cpu_seconds(pid)
    out = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    cpu = cpu_seconds(pid) - cpu
    if "Non-2xx" in out:
        raise SystemExit(f"wrk saw errors:\n{out}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    lat = {}
    for pct, value, unit in re.findall(r"^\s+(\d+)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M):
        lat[pct] = float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]
    return rps, lat, cpu / requests * 1e6


SERVERS = {"fastapi": "FastAPI + uvicorn", "pygent": "PyGent on uvicorn", "pygent-granian": "PyGent on granian"}


def http_rounds(seconds: int) -> None:
    lua = Path(tempfile.mkstemp(suffix=".lua")[1])
    lua.write_text(CHAT_LUA)
    global ENDPOINTS
    ENDPOINTS = [("plugins", "/api/v1/plugins", None), ("health", "/api/v1/health", None),
                 ("chat", "/api/v1/chat", str(lua))]
    results: dict[tuple[str, str], list[Run]] = {}
    # Each server twice, in the order F U G G U F: the machine's drift over the run then weighs
    # on all alike. Both runs are kept; the table shows the better one and the spread.
    order = ["fastapi", "pygent", "pygent-granian"]
    for port, which in enumerate(order + order[::-1], start=8961):
        data = tempfile.mkdtemp(prefix=f"bench-{which}-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
        process, key = start(which, port, data)
        try:
            for name, path, script in ENDPOINTS:
                url = f"http://127.0.0.1:{port}{path}"
                wrk(url, key, 2, 64, script, process.pid)  # warm up
                results.setdefault((which, name), []).append(wrk(url, key, seconds, 256, script, process.pid))
        finally:
            stop(process)
            shutil.rmtree(data, ignore_errors=True)
    print(f"1. HTTP at 256 connections, wrk -t2 -d{seconds}s, one worker each, two runs (order F U G G U F).")
    print("   req/s and p99 of the better run, the other run in brackets; ratios of the better runs.")
    print("   CPU: the server's CPU time per request (user + system, both runs), which other load on")
    print("   the machine does not inflate the way it inflates wall-clock figures.")
    for name, _, _ in ENDPOINTS:
        base = max(r[0] for r in results["fastapi", name])
        base_cpu = min(r[2] for r in results["fastapi", name])
        for which, label in SERVERS.items():
            (rps, lat, cpu), (rps2, lat2, cpu2) = sorted(results[which, name], key=lambda r: -r[0])
            ratio = "" if which == "fastapi" else (
                f"  {rps / base:.2f}x FastAPI's req/s (goal >= 1.5x), {base_cpu / min(cpu, cpu2):.2f}x less CPU")
            print(f"   {name:7s} {label:18s} {rps:6.0f} req/s [{rps2:6.0f}], p50 {lat['50']:5.1f} ms, "
                  f"p99 {lat['99']:6.1f} ms [{lat2['99']:6.1f}], CPU {cpu:5.0f} us [{cpu2:5.0f}]{ratio}")


WS_CLIENT = r'''
import asyncio, json, sys, time
from websockets.asyncio.client import connect

async def client(url, n, pings, stats):
    async with connect(url, open_timeout=120, ping_interval=None, max_queue=None) as ws:
        stats["open"] += 1
        while stats["open"] < stats["want"]:      # hold every connection open at once
            await asyncio.sleep(0.05)
        await ws.send(json.dumps({"type": "chat_message", "message": f"client {n}"}))
        for i in range(pings):
            await ws.send(json.dumps({"type": "ping", "id": i}))
        tokens, pongs, final = [], 0, None
        while final is None or pongs < pings:
            frame = json.loads(await ws.recv())
            if frame["type"] == "pong":
                pongs += 1
            elif frame["type"] == "chat_response" and frame["done"]:
                final = frame["message"]
            elif frame["type"] == "chat_response":
                tokens.append(frame["token"])
            elif frame["type"] == "error":
                raise SystemExit(f"client {n} got an error frame: {frame}")
        stats["frames"] += len(tokens) + pongs + 1
        if "".join(tokens) != final or final != "Hello from the scripted model":
            stats["lost"] += 1

async def main(url, clients, pings):
    stats = {"open": 0, "want": clients, "frames": 0, "lost": 0}
    start = time.perf_counter()
    await asyncio.gather(*(client(url, n, pings, stats) for n in range(clients)))
    print(json.dumps({**stats, "seconds": time.perf_counter() - start}))

asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
'''


def websocket_round(which: str, clients: int, pings: int) -> None:
    import json

    data = tempfile.mkdtemp(prefix="bench-ws-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    process, key = start(which, 8970, data)
    try:
        out = subprocess.run(
            [sys.executable, "-c", WS_CLIENT, f"ws://127.0.0.1:8970/ws?token={key}", str(clients), str(pings)],
            capture_output=True, text=True, timeout=600,
        )
        if out.returncode != 0:
            raise SystemExit(f"websocket clients failed:\n{out.stderr[-2000:]}")
        stats = json.loads(out.stdout)
    finally:
        stop(process)
        shutil.rmtree(data, ignore_errors=True)
    expected = clients * (pings + 1 + 5)  # pongs, the final message, five streamed tokens each
    print(f"2. WebSocket, {SERVERS[which]}: {stats['open']} clients held open at once, "
          f"each a chat_message + {pings} pings")
    print(f"   {stats['frames']} frames received of {expected} expected, {stats['lost']} chats incomplete, "
          f"{stats['seconds']:.1f} s")


if __name__ == "__main__":
    if shutil.which("wrk") is None:
        raise SystemExit("bench/http.py needs wrk: apt-get install wrk")
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs, fewer clients")
    parser.add_argument("--uvloop", action="store_true", help="every server on uvloop (default: asyncio)")
    args = parser.parse_args()
    quick = args.quick
    if args.uvloop:
        os.environ["BENCH_UVLOOP"] = "1"  # read by _http_servers.py
    http_rounds(5 if quick else 15)
    for which in ("pygent", "pygent-granian"):
        websocket_round(which, 200 if quick else 1000, 3)
