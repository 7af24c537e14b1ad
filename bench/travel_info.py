"""Benchmark of live travel information: what the Redis cache saves on repeated questions.

Asks the same question (weather in Berlin on one day and one flight's status) many times through
`travel_info_for_trip`, against the fake providers of the tests with a simulated network latency per call:
  * B0: the same facade without Redis (only lookups in flight at the same moment share a call);
  * product: the Redis read-through cache (embedded Redis), as in production.
Prints latency percentiles, provider calls, the cache hit rate and the ratio of the two.

    python -m bench.travel_info [--questions 300] [--latency-ms 80] [--concurrency 10]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from redis.asyncio import Redis

from agent.travel_info import TravelInfo, travel_info_for_trip
from agent.travel_info.providers import http_client
from bench.latency import percentile
from storage.embedded import EmbeddedRedis, start_embedded
from tests.fakes.travel_providers import FakeTravelProviders

TODAY = dt.date(2026, 11, 25)
NOW = dt.datetime(2026, 11, 25, 10, 0, tzinfo=dt.UTC)
TRIP_DAY = dt.date(2026, 12, 3)


async def ask_many(info: TravelInfo, *, questions: int, concurrency: int) -> list[float]:
    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []

    async def ask() -> None:
        async with gate:
            started = time.perf_counter()
            await travel_info_for_trip(
                info, destination="Berlin", start=TRIP_DAY, end=TRIP_DAY, flights=[("LH1234", TRIP_DAY)]
            )
            latencies.append(time.perf_counter() - started)

    await asyncio.gather(*(ask() for _ in range(questions)))
    return latencies


async def run(
    fake: FakeTravelProviders, redis_url: str, *, questions: int, concurrency: int
) -> dict[str, tuple[list[float], int, float]]:
    settings = fake.settings(TRAVEL_INFO_TIMEOUT_SECONDS=5.0, TRAVEL_INFO_DEADLINE_SECONDS=10.0)
    results: dict[str, tuple[list[float], int, float]] = {}
    redis = Redis.from_url(redis_url)
    try:
        async with http_client(timeout_seconds=settings.timeout_seconds) as client:
            for label, cache_redis in (("B0 no cache", None), ("product (Redis)", redis)):
                info = TravelInfo.from_client(client, settings, redis=cache_redis, clock=lambda: NOW)
                keys = [key async for key in redis.scan_iter(match="travelmate:travel-info:*")]
                if keys:
                    await redis.delete(*keys)
                before = sum(fake.calls(endpoint) for endpoint in ("geocoding", "forecast", "flight"))
                latencies = await ask_many(info, questions=questions, concurrency=concurrency)
                calls = sum(fake.calls(endpoint) for endpoint in ("geocoding", "forecast", "flight")) - before
                hit_rate = 1 - calls / (questions * 3)
                results[label] = (latencies, calls, hit_rate)
    finally:
        await redis.aclose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=300)
    parser.add_argument("--latency-ms", type=float, default=80.0)
    parser.add_argument("--concurrency", type=int, default=10)
    arguments = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="travelmate-bench-")).resolve()
    try:
        urls = start_embedded(data_dir, postgres=False, redis=True)  # a throwaway Redis, removed below
        with FakeTravelProviders(today=TODAY) as fake:
            fake.set_weather("Berlin", TRIP_DAY, code=63, high=3.2, low=0.4, precipitation=6.1)
            fake.add_flight("LH 1234", TRIP_DAY, gate="B22", delay_minutes=40)
            for endpoint in ("geocoding", "forecast", "flight"):
                fake.stall(endpoint, seconds=arguments.latency_ms / 1000, times=None)  # slow, but answering
            results = asyncio.run(
                run(fake, urls.redis_url, questions=arguments.questions, concurrency=arguments.concurrency)
            )
    finally:
        EmbeddedRedis(data_dir / "redis").release()
        shutil.rmtree(data_dir, ignore_errors=True)

    print(
        f"{arguments.questions} identical questions, {arguments.concurrency} at a time, "
        f"{arguments.latency_ms:.0f} ms per provider call"
    )
    print(f"{'':18} {'p50 ms':>8} {'p95 ms':>8} {'mean ms':>8} {'calls':>6} {'saved':>9}")
    for label, (latencies, calls, hit_rate) in results.items():
        print(
            f"{label:18} {percentile(latencies, 0.5) * 1000:8.1f} {percentile(latencies, 0.95) * 1000:8.1f} "
            f"{statistics.fmean(latencies) * 1000:8.1f} {calls:6d} {hit_rate:9.1%}"
        )
    base, product = results["B0 no cache"][0], results["product (Redis)"][0]
    print(
        f"ratio product/B0: p50 {percentile(product, 0.5) / percentile(base, 0.5):.3f}, "
        f"mean {statistics.fmean(product) / statistics.fmean(base):.3f}"
    )


if __name__ == "__main__":
    main()
