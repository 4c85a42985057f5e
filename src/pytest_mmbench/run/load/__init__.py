"""Load points: arrival times, synthetic prompts, the asyncio engine, one point end to end."""
