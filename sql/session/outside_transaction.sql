-- Settings for the statements a migration runs outside a transaction (CREATE INDEX
-- CONCURRENTLY, a VALIDATE CONSTRAINT that scans a big table), between two of its transactions.
--
-- SET LOCAL would end with the first of them, so these are session-level, and
-- session/outside_transaction_end.sql puts the session back as it was. The statements wait for
-- a lock like any DDL: behind a long transaction they give up after the migration's lock
-- timeout, and `upgrade` resumes from there later. No statement_timeout: scanning a big table
-- takes as long as it takes, and holds no lock that blocks the application.

set search_path = pg_catalog, pg_temp;

set lock_timeout = '10s';
