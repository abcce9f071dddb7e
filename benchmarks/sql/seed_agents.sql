-- Benchmark seed, step 1: register the fleet that the heartbeats belong to.
--
-- What: one set-based statement that registers agents bench-agent-1 .. bench-agent-N through
-- the project's own API, fleet.register_agent(name), so the seed stays valid if registration
-- grows logic. New agents are offline until their first heartbeat.
-- Pattern: plain generate_series fan-out; nothing benchmark-specific is measured here.
-- Parameters: agents (how many).
-- Note: psycopg parameter syntax is used in this file, so it contains no percent sign
-- other than its placeholders.

select count(fleet.register_agent('bench-agent-' || n))
from generate_series(1, %(agents)s::integer) as n;
