-- Ends session/outside_transaction.sql: its session-level settings go back to the login's own.

reset lock_timeout;

reset search_path;
