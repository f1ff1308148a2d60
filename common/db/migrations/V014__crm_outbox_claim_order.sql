-- The write-back claim takes the oldest due rows in (due_at, subject_id) order, LIMIT n: with
-- the index on due_at alone PostgreSQL read and sorted every pending row for each claim, so
-- a backlog of N rows cost O(N) per claim. And its "is the queue parked?" test scanned the
-- whole table; a partial index over the few parked rows answers it at once.
DROP INDEX crm_outbox_due;
CREATE INDEX crm_outbox_due ON crm_outbox (due_at, subject_id) WHERE state = 'pending';
CREATE INDEX crm_outbox_parked ON crm_outbox (state) WHERE state IN ('parked', 'parked_auth');
