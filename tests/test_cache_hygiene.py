"""Rounds of a case never share a cached prefix unless the case asks for it.

Measured on the embedded llama.cpp with its prompt cache ON: without the per-round
tag, rounds 2 and 3 of an identical prompt are served from the slot's KV cache and
their TTFT times a cache hit, not a prefill.
"""

from __future__ import annotations

from support import load_report, records_by_case

WORDS = " ".join(["river mountain window garden music letter market forest"] * 20)


def test_round_two_ttft_is_a_prefill_not_a_cache_hit(pytester, write_hosts) -> None:
    write_hosts(
        '[endpoints.cached]\nlaunch = "embedded"\n'
        "[endpoints.cached.embedded]\ncache_prompt = true\n"
    )
    case = (
        'modality = "text"\nsystem = "You are a helpful assistant."\n'
        f'prompt = "Count the words: {WORDS}"\nmax_tokens = 2\ncheck = {{ max_words = 1000 }}\n'
    )
    (pytester.path / "mm_cache.toml").write_text(
        f'[[case]]\nid = "fresh"\n{case}[[case]]\nid = "reused"\nreuse_prefix = true\n{case}',
        encoding="utf-8",
    )
    result = pytester.runpytest_inprocess("--mm-endpoints=hosts.toml", "--mm-rounds=3")
    result.assert_outcomes(passed=2)
    records = records_by_case(load_report(pytester.path / "mmbench-report.json"))

    def ttfts(case_id: str) -> list[float]:
        return [r["metrics"]["ttft_ms"] for r in records[("cached", case_id)]["rounds"]]

    def cached(case_id: str) -> list[int | None]:
        return [r["metrics"]["cached_tokens"] for r in records[("cached", case_id)]["rounds"]]

    fresh, reused = ttfts("fresh"), ttfts("reused")
    prompt = records[("cached", "fresh")]["rounds"][0]["metrics"]["input_tokens"]
    assert prompt > 150
    # Tagged rounds pay the whole prefill each time (measured 2455/2200/2124 ms; the bound
    # leaves room for a busy shared machine, the cache saves ~98%)...
    assert min(fresh[1:]) > 0.35 * fresh[0], fresh
    # ...while the same prompt resent is served from cache (the check can fail).
    assert max(reused[1:]) < 0.2 * reused[0], reused
    # llama.cpp reports the cached prompt tokens: a hit is visible in the record.
    assert cached("reused")[1] is not None and cached("reused")[1] > 0.8 * prompt
    assert all(n is None or n < 20 for n in cached("fresh")), cached("fresh")
