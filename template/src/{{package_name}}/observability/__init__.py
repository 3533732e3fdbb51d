"""What tells the team that something is wrong: error tracking (Sentry)."""
