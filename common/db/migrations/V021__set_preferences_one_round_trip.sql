-- SetPreferences in one round trip, as V017 and V020 did for opt-outs. One change was nine
-- (BEGIN, the idempotency claim, the gate row, the preferences load, the event, the upsert,
-- the idempotency answer, the state and preferences read for the answer, COMMIT), and each
-- further change two more.

-- Owner: services/subscriptions (registry_preferences.cc, SubscriptionRegistry::SetPreferences).
-- Applies the changes (p_topics[i], p_channels[i], p_subscribed[i]; p_details->(i-1) the
-- event's details of change i), in this order, which is the order the C++ steps took:
--   1. the idempotency key (herald_idempotency_claim_or_answer, V020), when p_key is not
--      empty; a repeat skips to 5;
--   2. the subject's gate row, taken for change with its CRM mark
--      (herald_lock_subject_for_change);
--   3. every change that subscribes needs marketing consent on its channel, checked under
--      that lock (a consent withdrawn meanwhile is seen);
--   4. each change in turn: the newest row for (any channel or the channel) x (all topics or
--      the topic) decides whether it is subscribed now, none means subscribed
--      (SubscriptionRegistry::Deciding); a change that changes something writes its event
--      and its preference row (the upsert herald_opt_out_subject makes, V017, whose comment
--      names the C++ statement this replaces); then the answer ('{}') is stored with the key;
--   5. returns the subject's marketing channels (first row, every other column null) and its
--      preference rows, from which the caller builds the answer.
-- Errors roll the call back: HR001 the key was used with another request, HR002 no such
-- subject, HR003 the subject was destroyed or depersonalized, HR004 it was merged (a change),
-- HR006 it was merged (a repeat's read), HR005 change `changes[i]` (the message, i from 0)
-- subscribes without marketing consent on its channel.
CREATE FUNCTION herald_set_preferences(
  p_subject uuid, p_topics text[], p_channels smallint[], p_subscribed boolean[],
  p_details jsonb, p_any_channel smallint,
  p_client text, p_method text, p_key text, p_request_hash bytea,
  p_event_type text, p_source smallint, p_occurred_at timestamptz, p_now timestamptz,
  p_personal jsonb)
RETURNS TABLE (
  r_channels integer, r_channel smallint, r_topic text, r_subscribed boolean, r_seq bigint,
  r_updated_at text)
LANGUAGE plpgsql AS $$
DECLARE
  v_repeat boolean;
  v_state text;
  v_channels integer;
  v_now_subscribed boolean;
  v_event bigint;
  i integer;
BEGIN
  v_repeat := herald_idempotency_claim_or_answer(
    p_client, p_method, p_key, p_request_hash, p_now) IS NOT NULL;

  IF v_repeat THEN
    SELECT s.state, s.marketing_channels
    INTO v_state, v_channels
    FROM subjects s
    WHERE s.id = p_subject;
    IF v_state IS NULL THEN
      RAISE EXCEPTION 'subject_id: subject' USING ERRCODE = 'HR002';
    ELSIF v_state = 'merged' THEN
      RAISE EXCEPTION 'subject_id: merged' USING ERRCODE = 'HR006';
    END IF;
  ELSE
    SELECT l.state, l.marketing_channels
    INTO v_state, v_channels
    FROM herald_lock_subject_for_change(p_subject, p_now) AS l;
    IF v_state IS NULL THEN
      RAISE EXCEPTION 'subject_id: subject' USING ERRCODE = 'HR002';
    ELSIF v_state = 'merged' THEN
      RAISE EXCEPTION 'subject_id: merged' USING ERRCODE = 'HR004';
    ELSIF v_state <> 'active' THEN
      RAISE EXCEPTION 'subject_id: the subject was destroyed or depersonalized'
        USING ERRCODE = 'HR003';
    END IF;

    FOR i IN 1 .. coalesce(array_length(p_topics, 1), 0) LOOP
      IF p_subscribed[i] AND (v_channels & (1 << p_channels[i]::integer)) = 0 THEN
        RAISE EXCEPTION 'changes[%]: no marketing consent on that channel', i - 1
          USING ERRCODE = 'HR005';
      END IF;
    END LOOP;

    FOR i IN 1 .. coalesce(array_length(p_topics, 1), 0) LOOP
      v_now_subscribed := coalesce((
        SELECT p.subscribed
        FROM preferences p
        WHERE p.subject_id = p_subject
          AND p.channel IN (p_any_channel, p_channels[i])
          AND p.topic IN ('', p_topics[i])
        ORDER BY p.seq DESC
        LIMIT 1
      ), true);
      CONTINUE WHEN v_now_subscribed = p_subscribed[i];
      v_event := herald_append_event(p_subject, NULL, p_event_type, p_client, p_source,
                                     p_occurred_at, p_now, p_details -> (i - 1), p_personal);
      INSERT INTO preferences (subject_id, channel, topic, subscribed, seq, updated_at)
      VALUES (p_subject, p_channels[i], p_topics[i], p_subscribed[i], v_event, p_now)
      ON CONFLICT (subject_id, channel, topic)
      DO UPDATE SET subscribed = excluded.subscribed, seq = excluded.seq,
                    updated_at = excluded.updated_at;
    END LOOP;

    IF p_key <> '' THEN
      PERFORM herald_idempotency_complete(p_client, p_method, p_key, '{}'::jsonb);
    END IF;
  END IF;

  RETURN QUERY
    SELECT v_channels, NULL::smallint, NULL::text, NULL::boolean, NULL::bigint, NULL::text
    UNION ALL
    SELECT v_channels, p.channel, p.topic, p.subscribed, p.seq, p.updated_at::text
    FROM preferences p
    WHERE p.subject_id = p_subject;
END
$$;
