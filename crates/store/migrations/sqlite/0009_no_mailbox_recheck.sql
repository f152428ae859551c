-- People without a mailbox are not probed on every pass. PostgreSQL twin:
-- ../postgres/0009_no_mailbox_recheck.sql; keep both in step.
--
-- A mailbox in state no_mailbox keeps, in backoff_until, when it is next
-- checked (a day later), and here whether the directory showed a licence
-- then: a licence added since makes it checked at once.
alter table mailbox add column licensed_at_check integer;
