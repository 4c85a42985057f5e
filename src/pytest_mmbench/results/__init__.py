"""From traces to figures and records: the one metrics function, the one stats shape,
answer checks, case records and load rows."""
