-- AddRecipients answers as soon as a stream's rows are stored; resolving them (CRM ids to
-- subjects, primary addresses, de-duplication, queueing) follows in the background, and the
-- upload row keeps the report. An answered upload must therefore outlive a crash: both tables
-- become logged. An upload moves receiving -> received (the stream ended; the answer was
-- given) -> resolved (its rows are queued or skipped and gone from campaign_upload_rows).
ALTER TABLE campaign_uploads SET LOGGED;
ALTER TABLE campaign_upload_rows SET LOGGED;

ALTER TABLE campaign_uploads
  -- The API client that streamed the rows: their messages are its messages.
  ADD COLUMN client_id text NOT NULL DEFAULT '',
  ADD COLUMN state text NOT NULL DEFAULT 'receiving'
    CHECK (state IN ('receiving', 'received', 'resolved')),
  -- Rows in the stream, and of those the rows stored for resolution (the rest were skipped
  -- on receipt: unreadable ids or addresses, missing or bad variables).
  ADD COLUMN received bigint NOT NULL DEFAULT 0,
  ADD COLUMN staged bigint NOT NULL DEFAULT 0,
  ADD COLUMN added bigint NOT NULL DEFAULT 0,
  ADD COLUMN duplicates bigint NOT NULL DEFAULT 0,
  -- Skipped rows by reason ({"reason": count}) and the first 1,000 of them by row number
  -- ([[row, "reason"], ...]): row numbers and reasons only, never a row's content.
  ADD COLUMN skipped jsonb NOT NULL DEFAULT '{}',
  ADD COLUMN errors jsonb NOT NULL DEFAULT '[]',
  ADD COLUMN received_at timestamptz,
  ADD COLUMN resolved_at timestamptz;

-- The rows go without an index: the btree on upload_id (one key repeated a million times)
-- took 60 % of a stream's COPY time in the database. The table holds only rows waiting for
-- resolution (receiving or received), and resolution reads an upload's rows in one
-- sequential pass anyway.
DROP INDEX campaign_upload_rows_upload;

-- The resolver takes the oldest received upload.
CREATE INDEX campaign_uploads_waiting ON campaign_uploads (received_at)
  WHERE state = 'received';

-- Owner: services/dispatch/campaign_service (the upload tables). What an upload's rows
-- resolve to, read-only: a row given by subject id needs that subject active; one given by
-- CRM id resolves to its active subject; a row without an address takes its subject's
-- primary address of the kind (the oldest; one probe of addresses (subject_id, kind,
-- match_key)). A row that cannot be sent to has its reason in `skip`. One SELECT in SQL, so
-- the planner inlines it into the statement that queues the rows (the ledger's).
CREATE FUNCTION herald_resolve_upload(p_upload uuid, p_kind smallint)
RETURNS TABLE (row_no bigint, subject_id uuid, address text, match_key text, variables text,
               skip text)
LANGUAGE sql STABLE AS $$
  SELECT u.row_no,
    coalesce(g.id, e.id),
    CASE WHEN u.address <> '' THEN u.address ELSE coalesce(a.value, '') END,
    CASE WHEN u.address <> '' THEN u.match_key ELSE coalesce(a.match_key, '') END,
    u.variables,
    CASE
      WHEN u.subject_id <> '' AND g.id IS NULL THEN 'unknown subject'
      WHEN u.subject_id = '' AND u.external_id <> '' AND e.id IS NULL THEN 'unknown subject'
      WHEN u.address = '' AND a.value IS NULL THEN 'no address for the channel'
    END
  FROM campaign_upload_rows u
  LEFT JOIN subjects g
    ON u.subject_id <> ''
   AND g.id = nullif(u.subject_id, '')::uuid
   AND g.state = 'active'
  LEFT JOIN subjects e
    ON u.subject_id = ''
   AND u.external_id <> ''
   AND e.external_id = u.external_id
   AND e.state = 'active'
  LEFT JOIN LATERAL (
    SELECT value, match_key
    FROM addresses
    WHERE u.address = ''
      AND addresses.subject_id = coalesce(g.id, e.id)
      AND kind = p_kind
    ORDER BY added_at, id
    LIMIT 1
  ) a ON true
  WHERE u.upload_id = p_upload
$$;

-- A message's campaign and the inbound SMS it answers are checked by their writers under
-- the referenced row's lock (a campaign's recipients are queued holding the campaign row),
-- and neither table ever loses a row (campaigns end as cancelled or finished; inbound SMS
-- keep keyed hashes only and stay). The two constraints' triggers cost a third of a
-- million-recipient upload's resolution (6.5 us of 20 per row, every NULL checked too).
ALTER TABLE messages DROP CONSTRAINT messages_campaign_id_fkey;
ALTER TABLE messages DROP CONSTRAINT messages_reply_to_inbound_fkey;
