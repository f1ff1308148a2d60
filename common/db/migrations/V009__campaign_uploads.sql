-- An AddRecipients stream's rows wait here between the client's messages, written in short
-- transactions of a bounded batch each, until the stream ends and one short transaction
-- resolves and queues them and removes the upload. A stalled stream so holds no connection,
-- transaction or lock. Unlogged: an upload does not outlive a crash (its stream broke with
-- it), and staging writes no WAL. An upload abandoned by a process that died is dropped by
-- the campaign housekeeping a day after it started.
CREATE UNLOGGED TABLE campaign_uploads (
  id          uuid PRIMARY KEY,
  campaign_id uuid NOT NULL,
  started_at  timestamptz NOT NULL
);
CREATE INDEX campaign_uploads_campaign ON campaign_uploads (campaign_id);
CREATE INDEX campaign_uploads_started ON campaign_uploads (started_at);

CREATE UNLOGGED TABLE campaign_upload_rows (
  upload_id   uuid NOT NULL,
  row_no      bigint NOT NULL,
  subject_id  text NOT NULL,
  external_id text NOT NULL,
  address     text NOT NULL,
  match_key   text NOT NULL,
  variables   text NOT NULL
);
CREATE INDEX campaign_upload_rows_upload ON campaign_upload_rows (upload_id);
