-- fleet.heartbeats v3, step 1 of 3 (outside a transaction): the index heartbeats_legacy needs
-- to become a partition.
--
-- The partitioned table's primary key is (created_at, id); a partition must bring a matching
-- unique index, or ATTACH builds one while it holds an ACCESS EXCLUSIVE lock. Built
-- CONCURRENTLY here, nobody waits for it. If an earlier attempt left it invalid, step 3 says
-- so and how to retry.

create unique index concurrently if not exists heartbeats_legacy_created_at_id_key
  on fleet.heartbeats_legacy (created_at, id);
