-- Baseline method `stateless-id-in`: one batch of the common batched purge, no cursor kept.
--
-- What: delete the `batch` oldest expired heartbeats, found afresh by a LIMITed subquery; the
-- benchmark runs it in autocommit (one COMMIT per batch) until it deletes 0 rows. Nothing is
-- carried from one batch to the next, so every batch walks the (created_at, id) index from
-- the oldest entry again, past the index entries of the rows earlier batches deleted (they
-- stay until VACUUM), and the batches get slower as the purge goes on. DESIGN.md section 7
-- measured this pattern at 35.3 s for 5 M expired rows, against 4.5 s for one DELETE.
-- Pattern: the usual application/ORM retention job: "DELETE ... WHERE id IN (SELECT id ...
-- WHERE created_at < cutoff ORDER BY created_at LIMIT n)", repeated until nothing is left.
-- Oban's Pruner plugin (lib/oban/plugins/pruner.ex) has the same shape (a delete joined to a
-- LIMITed id subquery, stateless between ticks); ORDER BY makes it oldest first, as the
-- project's contract requires.
-- Parameters: batch.

delete from fleet.heartbeats as h
where h.id in (
  select o.id
  from fleet.heartbeats as o
  where o.created_at < (
    select fleet.ago(c.heartbeat_retention)
    from fleet.config as c
  )
  order by o.created_at
  limit %(batch)s::integer
);
