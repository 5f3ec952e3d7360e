-- A flag being sent is claimed, not locked (issue #25): the flusher marks the rows
-- it will send with its own id and a deadline in one autocommit UPDATE, sends with
-- no transaction or pooled connection held while the forge answers, then records
-- what each send did and releases the claim in one more statement. A flusher that
-- dies leaves a claim that simply expires; the poller sends those flags then.
-- (Before: a transaction held the flags' advisory locks across the sends.)
ALTER TABLE pr_flags ADD COLUMN sending_until TIMESTAMPTZ;
ALTER TABLE pr_flags ADD COLUMN sending_by UUID;
