"""The request core: one body builder, one chunk parser, one trace type, the probe.

Both the per-case runner and the load engine build, send and read requests through
this package; they differ only in how they schedule them.
"""
