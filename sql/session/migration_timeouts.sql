-- Timeouts for every migration run, set first in its transaction.
--
-- A DDL statement waiting for a lock blocks every query queued behind it, so a migration that
-- cannot get its lock quickly should fail and be retried rather than stall the application.
-- SET LOCAL, not SET: it ends with the transaction, so it is also safe through a pooler.

set local lock_timeout = '10s';

set local statement_timeout = '5min';
