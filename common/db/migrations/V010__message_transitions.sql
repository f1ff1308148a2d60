-- The routine path of a message (queued or retrying -> sending -> sent) is recorded on its
-- attempt row, not as two message_history rows; every other transition stays a history row.
-- message_transitions is the whole history again.
--
-- Order: message_history.id is drawn from message_history_id_seq. A transition recorded
-- outside message_history draws its place (`seq`) from the same sequence in the transaction
-- that makes it, so ordering by seq gives the order history ids alone gave.

-- The claim that moved a message to sending, while that transition is recorded nowhere else:
-- when it happened and its place. Its completion moves both onto the attempt row; when no
-- attempt row follows (the attempt never reached a provider, or the lease ran out and the
-- message was reclaimed), the ledger writes them as a history row with id = lease_seq.
-- NULL when no claim holds the message or the one holding it is a history row (a reclaim).
ALTER TABLE messages
  ADD COLUMN leased_at timestamptz,
  ADD COLUMN lease_seq bigint;

ALTER TABLE message_attempts
  -- The claim that started this attempt, unless it is a history row.
  ADD COLUMN claimed_at  timestamptz,
  ADD COLUMN claimed_seq bigint,
  -- The completion that moved the message to sent, unless it is a history row.
  ADD COLUMN sent_at     timestamptz,
  ADD COLUMN sent_seq    bigint,
  ADD COLUMN sent_note   text NOT NULL DEFAULT '';

-- Every status transition of every message: history rows, the routine transitions on
-- attempt rows, and the claim of a message still held (a worker sending it, or one that died
-- mid-send until its lease runs out and the message is reclaimed).
CREATE VIEW message_transitions AS
  SELECT h.message_id, h.id AS seq, h.status, h.deny_reason, h.note, h.at
  FROM message_history h
  UNION ALL
  SELECT a.message_id, a.claimed_seq, 'sending', NULL::smallint, '', a.claimed_at
  FROM message_attempts a
  WHERE a.claimed_seq IS NOT NULL
  UNION ALL
  SELECT a.message_id, a.sent_seq, 'sent', NULL::smallint, a.sent_note, a.sent_at
  FROM message_attempts a
  WHERE a.sent_seq IS NOT NULL
  UNION ALL
  SELECT m.id, m.lease_seq, 'sending', NULL::smallint, '', m.leased_at
  FROM messages m
  WHERE m.lease_seq IS NOT NULL
    AND NOT EXISTS (SELECT 1 FROM message_attempts a
                    WHERE a.message_id = m.id AND a.claimed_seq = m.lease_seq)
    AND NOT EXISTS (SELECT 1 FROM message_history h
                    WHERE h.message_id = m.id AND h.id = m.lease_seq);
