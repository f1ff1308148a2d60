-- Call outcomes (docs/calls.md, CALL-1..CALL-9): a consent given on a phone call carries the
-- call's recording as its proof, next to the other proof fields of the record (form_id,
-- document_version). The reference is an id or URI in the operator's telephony system, not a
-- personal value, so it stays with the record (IP and user agent live in event_personal).
-- Empty for every other consent, and for the records written before this migration.
--
-- The new source PHONE_CALL (herald.v1.Source 9) needs no schema change: consents.source,
-- events.source and suppressions.source are plain smallints without a CHECK on the value.
ALTER TABLE consents ADD COLUMN recording_reference text NOT NULL DEFAULT '';
