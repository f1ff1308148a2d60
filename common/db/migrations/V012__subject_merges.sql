-- Merged subjects: when the CRM merges two duplicate contacts, the duplicate's facts move to
-- the surviving subject and its row stays behind as a pointer (state 'merged', merged_into),
-- so its id and external id still lead to the survivor and its events keep their subject.
ALTER TABLE subjects ADD COLUMN merged_into uuid REFERENCES subjects (id);
ALTER TABLE subjects DROP CONSTRAINT subjects_state_check;
ALTER TABLE subjects ADD CONSTRAINT subjects_state_check
  CHECK (state IN ('active', 'destroyed', 'depersonalized', 'merged'));
-- A merged subject always names its survivor; destroying it later keeps the pointer.
ALTER TABLE subjects ADD CONSTRAINT subjects_merged_names_survivor
  CHECK (state <> 'merged' OR merged_into IS NOT NULL);
CREATE INDEX subjects_merged_into ON subjects (merged_into) WHERE merged_into IS NOT NULL;
