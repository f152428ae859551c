-- A filtered message delta round returns at most 5,000 messages, and one
-- that hit the cap must be read again unfiltered. SQLite twin: ../sqlite/0011_delta_round_cap.sql;
-- keep both in step.
--
-- filtered: the chain's round was started with a $filter (its later rounds
-- keep it). Rows from before this column are taken as filtered, the safe
-- assumption: a wrong guess costs one unfiltered round, never mail.
-- round_items: how many entries the round of this cursor has returned (so
-- far, for a next link; in all, for a delta link).
alter table sync_cursor add column filtered boolean not null default true;
alter table sync_cursor add column round_items bigint not null default 0;
