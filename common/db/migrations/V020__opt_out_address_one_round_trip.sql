-- An opt-out by bare address in one round trip, as V017 did for an opt-out by subject. It
-- was ten (BEGIN, the idempotency claim, the address's gate row, the CRM mark of its owners,
-- the covering-suppression check, the in-flight count, the event, the suppression, the
-- idempotency answer, COMMIT). The helpers below are the one text of their owners' writes,
-- and the owners' C++ calls them too; herald_opt_out_address strings them together in the
-- order the C++ steps took their locks.

-- Owner: common/db/idempotency (IdempotencyKey's rule, as herald_opt_out_subject applies it).
-- For the one-call writers: NULL when the call goes ahead (no key, or this call claimed it:
-- complete it with herald_idempotency_complete before returning); otherwise the first call's
-- answer, after waiting for it to commit. HR001: the key was used with another request.
CREATE FUNCTION herald_idempotency_claim_or_answer(
  p_client text, p_method text, p_key text, p_request_hash bytea, p_now timestamptz)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
  v_claim record;
BEGIN
  IF p_key = '' THEN
    RETURN NULL;
  END IF;
  SELECT c.claimed, c.same_request, c.response
  INTO v_claim
  FROM herald_idempotency_claim(p_client, p_method, p_key, p_request_hash, p_now) AS c;
  IF v_claim.claimed THEN
    RETURN NULL;
  END IF;
  IF NOT v_claim.same_request THEN
    RAISE EXCEPTION 'idempotency_key: already used with a different request'
      USING ERRCODE = 'HR001';
  END IF;
  RETURN v_claim.response;
END
$$;

-- Owner: services/crm/writeback_queue (MarkAddressOwners). Marks for write-back every active,
-- linked subject that has the address.
CREATE FUNCTION herald_crm_mark_address_owners(
  p_kind smallint, p_match_key text, p_now timestamptz)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO crm_outbox (subject_id, contact_id, enqueued_at, due_at)
  SELECT DISTINCT s.id, lower(s.external_id)::uuid, p_now, p_now
  FROM addresses a
  JOIN subjects s ON s.id = a.subject_id
  WHERE a.kind = p_kind AND a.match_key = p_match_key AND s.state = 'active'
    AND s.external_id
      ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
  ON CONFLICT (subject_id)
  DO UPDATE SET revision = crm_outbox.revision + 1;
END
$$;

-- Owner: services/subscriptions/gate (gate_rows.cc, LockAddressForChange). Rule 1 of
-- gate_rows.h for an address: bumps its gate row (a claim holding it FOR SHARE makes this
-- wait, and a later claim waits for this change to commit) and, when p_match_key is not
-- null, marks the address's owners for the CRM write-back.
CREATE FUNCTION herald_lock_address_for_change(
  p_key bytea, p_kind smallint, p_match_key text, p_now timestamptz)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO address_gates (address_key, version)
  VALUES (p_key, 1)
  ON CONFLICT (address_key)
  DO UPDATE SET version = address_gates.version + 1;
  IF p_match_key IS NOT NULL THEN
    PERFORM herald_crm_mark_address_owners(p_kind, p_match_key, p_now);
  END IF;
END
$$;

-- Owner: services/subscriptions/suppressions (CoveringSuppressionExists). Whether a live
-- suppression under any of p_keys with this reason already covers the scope: one for any
-- channel or this channel, for all marketing or this topic.
CREATE FUNCTION herald_suppression_covered(
  p_keys bytea[], p_channel smallint, p_topic text, p_reason smallint, p_any_channel smallint)
RETURNS boolean LANGUAGE plpgsql STABLE AS $$
BEGIN
  RETURN EXISTS (
    SELECT 1
    FROM suppressions
    WHERE address_key = ANY(p_keys)
      AND lifted_at IS NULL
      AND channel IN (p_any_channel, p_channel)
      AND topic IN ('', p_topic)
      AND reason = p_reason);
END
$$;

-- Owner: services/subscriptions/suppressions (InsertSuppression).
CREATE FUNCTION herald_insert_suppression(
  p_key_id text, p_key bytea, p_channel smallint, p_topic text, p_reason smallint,
  p_source smallint, p_created_at timestamptz, p_event_id bigint)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO suppressions (
    key_id, address_key, channel, topic, reason, source, created_at, event_id
  )
  VALUES (p_key_id, p_key, p_channel, p_topic, p_reason, p_source, p_created_at, p_event_id);
END
$$;

-- Owner: services/subscriptions (registry_opt_out.cc, SubscriptionRegistry::OptOutAddress).
-- An opt-out by bare address, in this order, which is the order the C++ steps took:
--   1. the idempotency key (herald_idempotency_claim_or_answer), when p_key is not empty;
--   2. the address's gate row under its current keyed hash p_address_key, with the CRM mark
--      of the subjects that have it (herald_lock_address_for_change);
--   3. whether a live suppression with this reason already covers the scope under any of
--      p_all_keys (the hashes under every key of the ring);
--   4. the messages already in `sending` to the address on the channels that reach it
--      (p_reaching), which may still go out;
--   5. when nothing covered it, the event (no subject: the address's hash and, among its
--      personal values, the address) and the suppression under the current key;
--   6. the answer, stored with the key.
-- HR001: the idempotency key was used with another request (the call rolls back).
CREATE FUNCTION herald_opt_out_address(
  p_key_id text, p_address_key bytea, p_all_keys bytea[], p_kind smallint, p_match_key text,
  p_reaching smallint[], p_scope_channel smallint, p_scope_topic text, p_reason smallint,
  p_any_channel smallint,
  p_client text, p_method text, p_key text, p_request_hash bytea,
  p_event_type text, p_source smallint, p_now timestamptz, p_details jsonb, p_personal jsonb,
  OUT changed boolean, OUT in_flight bigint)
LANGUAGE plpgsql AS $$
DECLARE
  v_answer jsonb;
  v_event bigint;
BEGIN
  v_answer := herald_idempotency_claim_or_answer(p_client, p_method, p_key, p_request_hash, p_now);
  IF v_answer IS NOT NULL THEN
    changed := (v_answer ->> 'changed')::boolean;
    in_flight := (v_answer ->> 'in_flight')::bigint;
    RETURN;
  END IF;

  PERFORM herald_lock_address_for_change(p_address_key, p_kind, p_match_key, p_now);
  changed := NOT herald_suppression_covered(
    p_all_keys, p_scope_channel, p_scope_topic, p_reason, p_any_channel);

  SELECT count(*)
  INTO in_flight
  FROM messages m
  WHERE m.status = 'sending'
    AND m.match_key = p_match_key
    AND m.channel = ANY(p_reaching);

  IF changed THEN
    v_event := herald_append_event(NULL, p_address_key, p_event_type, p_client, p_source, p_now,
                                   p_now, p_details, p_personal);
    PERFORM herald_insert_suppression(p_key_id, p_address_key, p_scope_channel, p_scope_topic,
                                      p_reason, p_source, p_now, v_event);
  END IF;

  IF p_key <> '' THEN
    PERFORM herald_idempotency_complete(
      p_client, p_method, p_key, jsonb_build_object('changed', changed, 'in_flight', in_flight));
  END IF;
END
$$;
