-- Every claim that leases messages draws a token; only a completion carrying the token of the
-- claim that still holds the message may end its attempt. So a worker that could not record
-- its outcomes while the database was away records them once it is back (nothing reclaimed
-- them meanwhile), and a late completion never ends a newer claim's attempt.
--
-- Lease expiry is judged by PostgreSQL's clock from now on (lease_expires_at is written as
-- clock_timestamp() + the lease), so a replica whose clock jumps cannot take leases that
-- are still running.
CREATE SEQUENCE message_lease_token_seq;
ALTER TABLE messages ADD COLUMN lease_token bigint;
