"""The PostgreSQL schema this service owns (its tables, outbox and migrations), named once."""

SCHEMA = "referral"
