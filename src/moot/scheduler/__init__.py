"""The scheduler: scheduled meetings, recurrence, ICS invites, the email outbox and SMTP delivery."""
