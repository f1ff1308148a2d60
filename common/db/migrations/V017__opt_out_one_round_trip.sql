-- An opt-out by subject in one round trip. It was ten (BEGIN, the idempotency claim, the
-- gate row, the CRM mark, the preferences, the event, the upsert, the in-flight count, the
-- idempotency answer, COMMIT), each waiting for the one before, so at 16 callers the
-- server spent its time waiting on the network, not on the disk.
--
-- Each helper below is the one text of its owner's write, and its owner's C++ calls it too
-- (the owners are named on each); herald_opt_out_subject strings them together in the order
-- the C++ steps took their locks, so nothing changes for a concurrent claim or change.
-- PL/pgSQL runs each statement with a fresh snapshot (READ COMMITTED), so a read after a
-- lock sees everything committed before the lock was granted, as a separate statement did.

-- Owner: common/db/idempotency (IdempotencyKey::Claim). Claims the key for this request:
-- claimed when this call is the first (complete it before commit); otherwise, after waiting
-- for the first call to commit, whether that call was the same request and its answer.
CREATE FUNCTION herald_idempotency_claim(
  p_client text, p_method text, p_key text, p_request_hash bytea, p_now timestamptz,
  OUT claimed boolean, OUT same_request boolean, OUT response jsonb)
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO idempotency_keys (client_id, method, key, request_hash, response, created_at)
  VALUES (p_client, p_method, p_key, p_request_hash, 'null'::jsonb, p_now)
  ON CONFLICT DO NOTHING;
  claimed := FOUND;
  IF claimed THEN
    same_request := true;
    RETURN;
  END IF;
  SELECT k.request_hash = p_request_hash, k.response
  INTO same_request, response
  FROM idempotency_keys k
  WHERE k.client_id = p_client
    AND k.method = p_method
    AND k.key = p_key;
END
$$;

-- Owner: common/db/idempotency (IdempotencyKey::Complete). Stores the answer of the call
-- that claimed the key.
CREATE FUNCTION herald_idempotency_complete(
  p_client text, p_method text, p_key text, p_response jsonb)
RETURNS void LANGUAGE sql AS $$
  UPDATE idempotency_keys
  SET response = p_response
  WHERE client_id = p_client
    AND method = p_method
    AND key = p_key
$$;

-- Owner: services/crm/writeback_queue (MarkSubject). Marks the subject for write-back when it
-- is linked (its external_id is a Creatio Contact Id, a GUID).
CREATE FUNCTION herald_crm_mark_subject(p_subject uuid, p_now timestamptz)
RETURNS void LANGUAGE sql AS $$
  INSERT INTO crm_outbox (subject_id, contact_id, enqueued_at, due_at)
  SELECT id, lower(external_id)::uuid, p_now, p_now
  FROM subjects
  WHERE id = p_subject
    AND external_id ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
  ON CONFLICT (subject_id)
  DO UPDATE SET revision = crm_outbox.revision + 1
$$;

-- Owner: services/subscriptions/gate (gate_rows.cc, LockSubjectForChange). Rule 1 of
-- gate_rows.h for a subject: takes its gate row for change and marks it for the CRM
-- write-back (writeback_queue's rule). The row is locked FOR NO KEY UPDATE, which conflicts
-- with a claim's FOR SHARE exactly as the old gate_version bump did (an UPDATE of a non-key
-- column takes that lock) without writing a new row version. All columns null: no such
-- subject.
CREATE FUNCTION herald_lock_subject_for_change(
  p_subject uuid, p_now timestamptz,
  OUT state text, OUT blocked boolean, OUT revoked boolean, OUT marketing_channels integer,
  OUT merged_into uuid)
LANGUAGE plpgsql AS $$
BEGIN
  SELECT s.state, s.blocked, s.revoked, s.marketing_channels, s.merged_into
  INTO state, blocked, revoked, marketing_channels, merged_into
  FROM subjects s
  WHERE s.id = p_subject
  FOR NO KEY UPDATE;
  IF FOUND THEN
    PERFORM herald_crm_mark_subject(p_subject, p_now);
  END IF;
END
$$;

-- Owner: services/subscriptions/event_log (AppendEvent). Appends an event and, when there
-- are any (p_personal not null), its personal values; returns the event's id.
CREATE FUNCTION herald_append_event(
  p_subject uuid, p_address_key bytea, p_type text, p_actor text, p_source smallint,
  p_occurred_at timestamptz, p_recorded_at timestamptz, p_details jsonb, p_personal jsonb)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
  v_id bigint;
BEGIN
  INSERT INTO events (
    subject_id, address_key, type, actor, source, occurred_at, recorded_at, details
  )
  VALUES (
    p_subject, p_address_key, p_type, p_actor, p_source, p_occurred_at, p_recorded_at, p_details
  )
  RETURNING id INTO v_id;
  IF p_personal IS NOT NULL THEN
    INSERT INTO event_personal (event_id, subject_id, address_key, data)
    VALUES (v_id, p_subject, p_address_key, p_personal);
  END IF;
  RETURN v_id;
END
$$;
