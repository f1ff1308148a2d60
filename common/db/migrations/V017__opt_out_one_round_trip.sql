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

-- Owner: services/subscriptions (registry_opt_out.cc, SubscriptionRegistry::OptOutSubject).
-- An opt-out by subject, in this order, which is the order the C++ steps took:
--   1. the idempotency key (common/db/idempotency's rule: a repeat waits for the first call
--      and gets its answer; the same key with another request is refused), when p_key is
--      not empty;
--   2. the subject's gate row, taken for change with its CRM mark
--      (herald_lock_subject_for_change, rule 1 of services/subscriptions/gate/gate_rows.h);
--      a merged subject's opt-out is its survivor's, whose gate row is taken next;
--   3. whether any covered (topic, channel) is still subscribed: the newest of the rows for
--      (any channel or the channel) x (all topics or the topic) decides, none means
--      subscribed (SubscriptionRegistry::Deciding);
--   4. when it is, the event (event_log's rule) and the preference row that says no;
--   5. the messages already in `sending` to the subject or its addresses (claims that
--      committed before the gate row was taken), which may still go out;
--   6. the answer, stored with the key.
-- p_topics x p_channels are the (topic, channel) pairs the scope covers. Errors roll the
-- call back: HR001 the key was used with another request, HR002 no such subject, HR003 the
-- subject was destroyed or depersonalized.
CREATE FUNCTION herald_opt_out_subject(
  p_subject uuid, p_scope_channel smallint, p_scope_topic text, p_any_channel smallint,
  p_topics text[], p_channels smallint[],
  p_client text, p_method text, p_key text, p_request_hash bytea,
  p_event_type text, p_source smallint, p_now timestamptz, p_details jsonb, p_personal jsonb,
  OUT target_id uuid, OUT changed boolean, OUT in_flight bigint)
LANGUAGE plpgsql AS $$
DECLARE
  v_claim record;
  v_state text;
  v_survivor uuid;
  v_event bigint;
BEGIN
  IF p_key <> '' THEN
    SELECT c.claimed, c.same_request, c.response
    INTO v_claim
    FROM herald_idempotency_claim(p_client, p_method, p_key, p_request_hash, p_now) AS c;
    IF NOT v_claim.claimed THEN
      IF NOT v_claim.same_request THEN
        RAISE EXCEPTION 'idempotency_key: already used with a different request'
          USING ERRCODE = 'HR001';
      END IF;
      changed := (v_claim.response ->> 'changed')::boolean;
      in_flight := (v_claim.response ->> 'in_flight')::bigint;
      RETURN;
    END IF;
  END IF;

  SELECT l.state, l.merged_into
  INTO v_state, v_survivor
  FROM herald_lock_subject_for_change(p_subject, p_now) AS l;
  IF v_state IS NULL THEN
    RAISE EXCEPTION 'subject_id: subject' USING ERRCODE = 'HR002';
  END IF;
  IF v_state = 'merged' THEN
    target_id := v_survivor;
    PERFORM herald_lock_subject_for_change(v_survivor, p_now);
  ELSIF v_state <> 'active' THEN
    RAISE EXCEPTION 'subject_id: the subject was destroyed or depersonalized'
      USING ERRCODE = 'HR003';
  ELSE
    target_id := p_subject;
  END IF;

  changed := EXISTS (
    SELECT 1
    FROM unnest(p_topics) AS t(topic)
    CROSS JOIN unnest(p_channels) AS c(channel)
    WHERE coalesce((
      SELECT p.subscribed
      FROM preferences p
      WHERE p.subject_id = target_id
        AND p.channel IN (p_any_channel, c.channel)
        AND p.topic IN ('', t.topic)
      ORDER BY p.seq DESC
      LIMIT 1
    ), true)
  );

  IF changed THEN
    v_event := herald_append_event(target_id, NULL, p_event_type, p_client, p_source, p_now,
                                   p_now, p_details, p_personal);
    -- The newest row decides, so this one overrides every narrower opt-in below it. The same
    -- upsert as kUpsertPreference (services/subscriptions/shared_statements.h).
    INSERT INTO preferences (subject_id, channel, topic, subscribed, seq, updated_at)
    VALUES (target_id, p_scope_channel, p_scope_topic, false, v_event, p_now)
    ON CONFLICT (subject_id, channel, topic)
    DO UPDATE SET subscribed = excluded.subscribed, seq = excluded.seq,
                  updated_at = excluded.updated_at;
  END IF;

  SELECT count(*)
  INTO in_flight
  FROM messages m
  WHERE m.status = 'sending'
    AND (m.subject_id = target_id
         OR m.match_key IN (SELECT a.match_key FROM addresses a WHERE a.subject_id = target_id));

  IF p_key <> '' THEN
    PERFORM herald_idempotency_complete(
      p_client, p_method, p_key, jsonb_build_object('changed', changed, 'in_flight', in_flight));
  END IF;
END
$$;
