"""Load points: many concurrent streamed requests, measured by a client that stays cheap.

``plan`` says what to send, ``arrivals`` when, ``prompts`` builds inputs of a requested
token length, ``client`` streams one request with the least work per chunk, ``engine``
drives a point on one asyncio loop (or several processes), ``figures`` turns the raw
per-request timestamps into the point's table row.
"""
